"""The alarm evaluator as first written: the reference the compiled evaluator is tested against.

It walks each condition tree at every instant it visits, recomputes a deviation window's mean and spread
from all its samples and builds node paths as it goes: slow, but a direct reading of decision 0006
(docs/decisions/0006-alarm-rules.md). `openiiot.domain.alarms.evaluator` must give the same states and
transitions for every rule and every sequence of samples (tests/unit/test_alarm_evaluator_equivalence.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby

from openiiot.domain.alarms.conditions import (
    AllOf,
    AnyOf,
    Condition,
    CountInWindow,
    Deviation,
    Duration,
    Inactive,
    NoData,
    Not,
    RateOfChange,
    Source,
    Threshold,
    Value,
    compare,
    walk,
)
from openiiot.domain.alarms.conditions import Range as RangeCond
from openiiot.domain.alarms.evaluator import AlarmTransition, EvalContext, RawSample, TransitionKind
from openiiot.domain.alarms.leaves import append_bounded, deviates, drop_before, leaf_holds, rate_of
from openiiot.domain.alarms.rules import AlarmRule, Severity, rule_fingerprint
from openiiot.domain.alarms.state import RuleState

MAX_STEPS_PER_CALL = 100_000  # deadlines visited per call; a guard, far above any real rule's needs


@dataclass(frozen=True, slots=True)
class _Index:
    """Per-rule lookups, computed once per rule."""

    nodes: tuple[tuple[str, Condition], ...]  # every node of every tree, post-order
    by_key: Mapping[str, tuple[tuple[str, CountInWindow | RateOfChange | Deviation], ...]]
    keys: frozenset[str]  # telemetry keys whose latest value the rule reads
    # the levels in rule order: severity, its stored name, its rank, the condition's path and the condition
    levels: tuple[tuple[Severity, str, int, str, Condition], ...]
    level_of: Mapping[Severity, tuple[str, Condition]]  # severities are unique within a rule
    durations: tuple[tuple[str, Duration], ...]  # the timed nodes, for deadlines and pruning
    counts: tuple[tuple[str, CountInWindow], ...]
    windows: tuple[tuple[str, RateOfChange | Deviation], ...]
    timeouts: tuple[NoData | Inactive, ...]
    timed: bool  # any timer: a timed node or an on/off delay (else samples alone change the alarm)


def _telemetry_key(node: Condition) -> str | None:
    if isinstance(node, Threshold | RangeCond):
        return node.key if node.source is Source.TELEMETRY else None
    if isinstance(node, RateOfChange | Deviation | NoData):
        return node.key
    if isinstance(node, CountInWindow):
        return node.condition.key
    return None


def relevant_keys(rule: AlarmRule) -> frozenset[str] | None:
    """The telemetry keys whose samples can change the rule, or None when every sample can (`inactive`
    counts any sample as activity; `no_data` times a key that never came from the device's first sample).
    Samples of other keys may be left out of `evaluate`: conditions are sample-and-hold and timers are
    visited anyway, so the result is the same."""
    index = _index(rule)
    if any(isinstance(node, Inactive | NoData) for _, node in index.nodes):
        return None
    return index.keys | frozenset(index.by_key)


@lru_cache(maxsize=1024)
def _index(rule: AlarmRule) -> _Index:
    roots = [(f"levels[{i}].condition", lv.condition) for i, lv in enumerate(rule.levels)]
    if rule.clear.condition is not None:
        roots.append(("clear.condition", rule.clear.condition))
    nodes = tuple(item for path, root in roots for item in walk(root, path))
    by_key: dict[str, list[tuple[str, CountInWindow | RateOfChange | Deviation]]] = {}
    for path, node in nodes:
        if isinstance(node, CountInWindow | RateOfChange | Deviation):
            key = node.condition.key if isinstance(node, CountInWindow) else node.key
            by_key.setdefault(key, []).append((path, node))
    keys = frozenset(k for _, node in nodes if (k := _telemetry_key(node)) is not None)
    levels = tuple(
        (lv.severity, lv.severity.value, lv.severity.rank, f"levels[{i}].condition", lv.condition)
        for i, lv in enumerate(rule.levels)
    )
    return _Index(
        nodes=nodes,
        by_key={k: tuple(v) for k, v in by_key.items()},
        keys=keys,
        levels=levels,
        level_of={sev: (path, cond) for sev, _, _, path, cond in levels},
        durations=tuple((p, n) for p, n in nodes if isinstance(n, Duration)),
        counts=tuple((p, n) for p, n in nodes if isinstance(n, CountInWindow)),
        windows=tuple((p, n) for p, n in nodes if isinstance(n, RateOfChange | Deviation)),
        timeouts=tuple(n for _, n in nodes if isinstance(n, NoData | Inactive)),
        timed=rule.on_delay_s > 0
        or rule.off_delay_s > 0
        or any(isinstance(n, Duration | CountInWindow | RateOfChange | NoData | Inactive) for _, n in nodes),
    )


def evaluate(
    rule: AlarmRule,
    state: RuleState,
    samples: Sequence[RawSample],
    now_ms: int,
    context: EvalContext | None = None,
) -> tuple[RuleState, list[AlarmTransition]]:
    """Advance `state` over `samples` of ONE originator (time order) and up to `now_ms`; pure.

    Samples older than the last evaluated instant are ignored (too late to change a decision already
    taken). When `now_ms` lies before the newest sample, evaluation ends at that sample.
    """
    run = _Run(rule, _rebase(state, rule_fingerprint(rule)), context or EvalContext())
    s = run.s
    ordered = sorted(samples, key=lambda sample: sample[0])
    for ts_ms, group in groupby(ordered, key=lambda sample: sample[0]):
        if s.last_eval_ms is not None and ts_ms < s.last_eval_ms:
            continue
        if s.started_ms is None:
            s.started_ms = ts_ms
        if run.index.timed:  # without timers nothing happens between samples
            run.advance_to(ts_ms)
        run.ingest(ts_ms, group)
        run.step(ts_ms)
    if s.started_ms is None:
        s.started_ms = now_ms
    if s.last_eval_ms is None or now_ms > s.last_eval_ms or not samples:
        if run.index.timed:
            run.advance_to(now_ms)
        run.step(now_ms)
    return s, run.transitions


def tick(
    rule: AlarmRule, state: RuleState, now_ms: int, context: EvalContext | None = None
) -> tuple[RuleState, list[AlarmTransition]]:
    """Advance time without samples: no-data, inactivity, durations and delays that complete by `now_ms`."""
    return evaluate(rule, state, (), now_ms, context)


def next_due_ms(rule: AlarmRule, state: RuleState, context: EvalContext | None = None) -> int | None:
    """The earliest instant at which a tick could change the alarm (a timer, delay or timeout expiring),
    or None when nothing is pending: a tick before then would only move the evaluated instant forward."""
    if state.rule_fingerprint != rule_fingerprint(rule):
        return 0  # never evaluated, or built for another version of the rule: due now, to rebase it
    return _Run(rule, state, context or EvalContext()).next_deadline()


def _rebase(state: RuleState, fingerprint: str) -> RuleState:
    if state.rule_fingerprint == fingerprint:
        return state.copy()
    # The rule changed: node paths may now name other nodes, so timers and windows restart; the open
    # alarm and the latest values carry over so an edited rule neither re-raises nor forgets it.
    return RuleState(
        rule_fingerprint=fingerprint,
        started_ms=state.started_ms,
        last_eval_ms=state.last_eval_ms,
        last_activity_ms=state.last_activity_ms,
        active_severity=state.active_severity,
        latest=dict(state.latest),
    )


def _as_value(value: float | str | bool) -> Value:
    return value if isinstance(value, str) else float(value)


class _Run:
    """One evaluate call: mutates its own copy of the state and collects transitions."""

    def __init__(self, rule: AlarmRule, state: RuleState, context: EvalContext) -> None:
        self.rule = rule
        self.s = state
        self.ctx = context
        self.index = _index(rule)
        self.transitions: list[AlarmTransition] = []

    # --- time ------------------------------------------------------------------------------------

    def advance_to(self, limit_ms: int) -> None:
        """Visit every timer deadline strictly before `limit_ms`."""
        for _ in range(MAX_STEPS_PER_CALL):
            deadline = self.next_deadline()
            if deadline is None or deadline >= limit_ms:
                return
            self.step(deadline)

    def next_deadline(self) -> int | None:
        """The earliest instant after the last evaluation at which a condition may change by itself."""
        after = self.s.last_eval_ms
        found = [d for d in self._deadlines() if after is None or d > after]
        return min(found, default=None)

    def _deadlines(self) -> Iterator[int]:
        s, index = self.s, self.index
        for path, duration in index.durations:
            if path in s.duration_since_ms:
                yield s.duration_since_ms[path] + duration.duration_s * 1000
        for path, count in index.counts:
            if s.count_ts_ms.get(path):
                yield s.count_ts_ms[path][0] + count.window_s * 1000
        for path, node in index.windows:
            if isinstance(node, RateOfChange) and s.windows.get(path):
                yield s.windows[path][0][0] + node.window_s * 1000
        for timeout in index.timeouts:
            ref = self._reference_ms(timeout)
            if ref is not None:
                yield ref + timeout.timeout_s * 1000
        for since in s.level_since_ms.values():
            yield since + self.rule.on_delay_s * 1000
        if s.clear_since_ms is not None:
            yield s.clear_since_ms + self.rule.off_delay_s * 1000
        if self.ctx.last_activity_ms is not None:
            yield self.ctx.last_activity_ms

    def _reference_ms(self, node: NoData | Inactive) -> int | None:
        s = self.s
        if isinstance(node, NoData):
            latest = s.latest.get(node.key)
            return latest[0] if latest is not None else s.started_ms
        return s.last_activity_ms if s.last_activity_ms is not None else s.started_ms

    # --- samples ---------------------------------------------------------------------------------

    def ingest(self, ts_ms: int, group: Iterator[RawSample]) -> None:
        """Take in the samples of one instant: latest values and per-node windows."""
        s = self.s
        s.last_activity_ms = ts_ms if s.last_activity_ms is None else max(s.last_activity_ms, ts_ms)
        for _, key, raw in group:
            if raw is None:
                continue
            value = _as_value(raw)
            if key in self.index.keys:
                s.latest[key] = (ts_ms, value)
            for path, node in self.index.by_key.get(key, ()):
                self._ingest_node(path, node, ts_ms, value)

    def _ingest_node(
        self, path: str, node: CountInWindow | RateOfChange | Deviation, ts_ms: int, value: Value
    ) -> None:
        s = self.s
        if isinstance(node, CountInWindow):
            if leaf_holds(node.condition, value, 0.0, 0):
                append_bounded(s.count_ts_ms.setdefault(path, []), ts_ms)
            return
        if isinstance(value, str):
            return
        window = s.windows.setdefault(path, [])
        if isinstance(node, Deviation):
            drop_before(window, ts_ms - node.window_s * 1000)
            s.deviation_verdicts[path] = deviates(node, window, value)
        append_bounded(window, (ts_ms, value))

    # --- one instant -----------------------------------------------------------------------------

    def step(self, t_ms: int) -> None:
        """Evaluate the rule at instant `t_ms`."""
        s = self.s
        s.last_eval_ms = t_ms
        if self.ctx.last_activity_ms is not None and self.ctx.last_activity_ms <= t_ms:
            known = s.last_activity_ms
            s.last_activity_ms = (
                self.ctx.last_activity_ms if known is None else max(known, self.ctx.last_activity_ms)
            )
        self._prune(t_ms)
        for path, node in self.index.durations:  # post-order: inner durations settle before outer ones
            if self.holds(node.condition, f"{path}.condition", t_ms, 0):
                s.duration_since_ms.setdefault(path, t_ms)
            else:
                s.duration_since_ms.pop(path, None)
        self._update_alarm(t_ms)

    def _prune(self, t_ms: int) -> None:
        s = self.s
        for path, count in self.index.counts:
            if path in s.count_ts_ms:
                horizon = t_ms - count.window_s * 1000
                ts_list = s.count_ts_ms[path]
                while ts_list and ts_list[0] <= horizon:
                    ts_list.pop(0)
        for path, node in self.index.windows:
            if path in s.windows:
                drop_before(s.windows[path], t_ms - node.window_s * 1000)

    def holds(self, node: Condition, path: str, t_ms: int, polarity: int) -> bool:
        """Truth of `node` at `t_ms`; polarity +1 relaxes thresholds by the deadband, -1 tightens them."""
        if isinstance(node, Threshold | RangeCond):
            value = self._value(node.key, node.source)
            return value is not None and leaf_holds(node, value, self.rule.clear.deadband, polarity)
        if isinstance(node, AllOf):
            return all(
                self.holds(c, f"{path}.children[{i}]", t_ms, polarity) for i, c in enumerate(node.children)
            )
        if isinstance(node, AnyOf):
            return any(
                self.holds(c, f"{path}.children[{i}]", t_ms, polarity) for i, c in enumerate(node.children)
            )
        if isinstance(node, Not):
            return not self.holds(node.child, f"{path}.child", t_ms, -polarity)
        if isinstance(node, Duration):
            if polarity > 0:  # once raised, the alarm stays while the inner condition (with deadband) holds
                return self.holds(node.condition, f"{path}.condition", t_ms, polarity)
            since = self.s.duration_since_ms.get(path)
            return since is not None and t_ms - since >= node.duration_s * 1000
        if isinstance(node, CountInWindow):
            return len(self.s.count_ts_ms.get(path, ())) >= node.count
        if isinstance(node, RateOfChange):
            rate = rate_of(self.s.windows.get(path, []), node.per)
            return rate is not None and compare(node.op, rate, node.value)
        if isinstance(node, Deviation):
            return self.s.deviation_verdicts.get(path, False)
        ref = self._reference_ms(node)
        return ref is not None and t_ms - ref >= node.timeout_s * 1000

    def _value(self, key: str, source: Source) -> Value | None:
        if source is Source.ATTRIBUTE:
            raw = self.ctx.attributes.get(key)
            return None if raw is None else _as_value(raw)
        latest = self.s.latest.get(key)
        return None if latest is None else latest[1]

    # --- the alarm -------------------------------------------------------------------------------

    def _level_holds(self, severity: Severity, t_ms: int, polarity: int) -> bool:
        level = self.index.level_of.get(severity)
        return level is not None and self.holds(level[1], level[0], t_ms, polarity)

    def _update_alarm(self, t_ms: int) -> None:
        s, rule = self.s, self.rule
        since = s.level_since_ms
        for _severity, name, _rank, path, condition in self.index.levels:
            if self.holds(condition, path, t_ms, 0):
                since.setdefault(name, t_ms)
            else:
                since.pop(name, None)
        on_delay_ms = rule.on_delay_s * 1000
        top: Severity | None = None
        top_rank = 0
        for severity, name, rank, _path, _condition in self.index.levels:
            if name in since and t_ms - since[name] >= on_delay_ms and rank > top_rank:
                top, top_rank = severity, rank
        active = None if s.active_severity is None else Severity(s.active_severity)
        if active is None:
            s.clear_since_ms = None
            if top is not None:
                self._emit(TransitionKind.RAISE, top, None, t_ms)
            return
        if top is not None and top.rank > active.rank:
            self._emit(TransitionKind.ESCALATE, top, active, t_ms)
            return
        if self._level_holds(active, t_ms, 1):
            s.clear_since_ms = None
            return
        lower = [
            lv.severity
            for lv in rule.levels
            if lv.severity.rank < active.rank
            and (lv.severity is top or self._level_holds(lv.severity, t_ms, 1))
        ]
        if lower:
            self._emit(TransitionKind.DEESCALATE, max(lower, key=lambda sev: sev.rank), active, t_ms)
            return
        self._clear_if_due(active, t_ms)

    def _clear_if_due(self, active: Severity, t_ms: int) -> None:
        s, clear = self.s, self.rule.clear
        if clear.condition is not None and not self.holds(clear.condition, "clear.condition", t_ms, 0):
            s.clear_since_ms = None  # in the deadband between raise and clear: the alarm holds
            return
        if s.clear_since_ms is None:
            s.clear_since_ms = t_ms
        if t_ms - s.clear_since_ms >= self.rule.off_delay_s * 1000:
            self._emit(TransitionKind.CLEAR, active, active, t_ms)

    def _emit(self, kind: TransitionKind, severity: Severity, previous: Severity | None, t_ms: int) -> None:
        s = self.s
        s.active_severity = None if kind is TransitionKind.CLEAR else severity.value
        s.clear_since_ms = None
        values = tuple(sorted((key, sample[1]) for key, sample in s.latest.items()))
        self.transitions.append(
            AlarmTransition(
                kind, self.rule.id, self.rule.alarm_type, severity, previous, t_ms, self.rule.latching, values
            )
        )
