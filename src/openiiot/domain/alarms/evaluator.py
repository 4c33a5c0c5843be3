"""Pure evaluation of an alarm rule over one originator's samples: (state, samples, now) -> (state, changes).

Time model: values are sample-and-hold; conditions can only change at a sample's timestamp or at a timer
deadline (a duration completing, a window sample expiring, a no-data/inactivity timeout, an on/off-delay
expiring). The evaluator visits exactly those instants in order, so a transition carries the instant it
really happened, however the samples were batched and whenever `tick` is called.

This runs on the ingest path for every rule of every device, so a rule is compiled once (`plan.py`, its
conditions as closures from `checks.py`) and a deviation window keeps exact running sums (`baseline.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from operator import itemgetter

from openiiot.domain.alarms.checks import as_value, reference_ms
from openiiot.domain.alarms.conditions import Value
from openiiot.domain.alarms.leaves import drop_before
from openiiot.domain.alarms.plan import Plan, plan_of, window_sums
from openiiot.domain.alarms.rules import AlarmRule, Severity
from openiiot.domain.alarms.state import RuleState

MAX_STEPS_PER_CALL = 100_000  # deadlines visited per call; a guard, far above any real rule's needs
RawSample = tuple[int, str, float | str | bool | None]  # ts_ms, key, value
_NEVER = 1 << 62  # later than any instant


class TransitionKind(StrEnum):
    """What happened to the rule's alarm."""

    RAISE = "raise"
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One change of the alarm a rule holds for one originator, at the instant it happened."""

    kind: TransitionKind
    rule_id: str
    alarm_type: str
    severity: Severity  # the new severity; for CLEAR the severity that cleared
    previous_severity: Severity | None
    ts_ms: int
    latching: bool
    values: tuple[tuple[str, Value], ...] = ()  # latest telemetry of the rule's keys, for messages


@dataclass(frozen=True, slots=True)
class EvalContext:
    """What the caller knows about the originator beyond its samples."""

    attributes: Mapping[str, float | str | bool] = field(default_factory=dict)
    last_activity_ms: int | None = None  # from the connectivity tracker (any message, connect, ...)


_NO_CONTEXT = EvalContext()


def relevant_keys(rule: AlarmRule) -> frozenset[str] | None:
    """The telemetry keys whose samples can change the rule, or None when every sample can (`inactive`
    counts any sample as activity; `no_data` times a key that never came from the device's first sample).
    Samples of other keys may be left out of `evaluate`: conditions are sample-and-hold and timers are
    visited anyway, so the result is the same."""
    return plan_of(rule).relevant


_by_ts = itemgetter(0)


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
    plan = plan_of(rule)
    return _advance(plan, _rebase(state, plan.fingerprint), samples, now_ms, context)


def advance(
    rule: AlarmRule,
    state: RuleState,
    samples: Sequence[RawSample],
    now_ms: int,
    context: EvalContext | None = None,
) -> tuple[RuleState, list[AlarmTransition]]:
    """`evaluate` without copying `state` first: it is advanced in place (or replaced, when the rule was
    edited), so the caller must own it and use only the returned state afterwards. For the engine's cache:
    copying a long rate or deviation window cost more than evaluating the rule."""
    plan = plan_of(rule)
    if state.rule_fingerprint != plan.fingerprint:
        state = _rebase(state, plan.fingerprint)
    return _advance(plan, state, samples, now_ms, context)


def _advance(
    plan: Plan, state: RuleState, samples: Sequence[RawSample], now_ms: int, context: EvalContext | None
) -> tuple[RuleState, list[AlarmTransition]]:
    run = _Run(plan, state, context or _NO_CONTEXT)
    s = run.s
    ordered = sorted(samples, key=_by_ts)
    i, n = 0, len(ordered)
    while i < n:
        ts_ms = ordered[i][0]
        j = i + 1
        while j < n and ordered[j][0] == ts_ms:
            j += 1
        if s.last_eval_ms is None or ts_ms >= s.last_eval_ms:
            if s.started_ms is None:
                s.started_ms = ts_ms
            if plan.timed:  # without timers nothing happens between samples
                run.advance_to(ts_ms)
            run.ingest(ts_ms, ordered, i, j)
            if plan.timed:
                run.step(ts_ms)
                run.lower_bound(ts_ms)
            elif not run.quiet_step(ts_ms):
                run.step(ts_ms)
        i = j
    if s.started_ms is None:
        s.started_ms = now_ms
    if s.last_eval_ms is None or now_ms > s.last_eval_ms or not samples:
        if plan.timed:
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
    plan = plan_of(rule)
    if state.rule_fingerprint != plan.fingerprint:
        return 0  # never evaluated, or built for another version of the rule: due now, to rebase it
    return _Run(plan, state, context or _NO_CONTEXT).next_deadline()


def release_alarm(state: RuleState) -> RuleState:
    """The state after an operator cleared the alarm by hand: a condition still present raises anew."""
    s = state.copy()
    s.active_severity = None
    s.clear_since_ms = None
    return s


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


class _Run:
    """One evaluate call: mutates its own copy of the state and collects transitions."""

    __slots__ = ("activity", "attrs", "bound", "plan", "rule", "s", "transitions")

    def __init__(self, plan: Plan, state: RuleState, context: EvalContext) -> None:
        self.plan = plan
        self.rule = plan.rule
        self.s = state
        self.attrs = context.attributes
        self.activity = context.last_activity_ms
        self.transitions: list[AlarmTransition] = []
        self.bound: int | None = None  # no deadline lies before this instant (None: not known)

    # --- time ------------------------------------------------------------------------------------

    def advance_to(self, limit_ms: int) -> None:
        """Visit every timer deadline strictly before `limit_ms`."""
        if self.bound is not None and limit_ms <= self.bound:
            return  # known from the last search: nothing is due before the limit
        for _ in range(MAX_STEPS_PER_CALL):
            deadline = self.next_deadline()
            if deadline is None or deadline >= limit_ms:
                self.bound = _NEVER if deadline is None else deadline
                return
            self.step(deadline)

    def lower_bound(self, t_ms: int) -> None:
        """After samples and a step at `t_ms`: a timer they started ends no earlier than t + the shortest
        timer, and every other change only removes or delays a deadline."""
        if self.bound is not None:
            shortest = self.plan.min_timer_ms
            self.bound = None if shortest is None else min(self.bound, t_ms + shortest)

    def next_deadline(self) -> int | None:
        """The earliest instant after the last evaluation at which a condition may change by itself."""
        s, plan = self.s, self.plan
        found: list[int] = []
        for path, _inner, duration_ms in plan.durations:
            since = s.duration_since_ms.get(path)
            if since is not None:
                found.append(since + duration_ms)
        for path, window_ms in plan.counts:
            ts_list = s.count_ts_ms.get(path)
            if ts_list:
                found.append(ts_list[0] + window_ms)
        for path, window_ms in plan.rates:
            window = s.windows.get(path)
            if window:
                found.append(window[0][0] + window_ms)
        for timeout in plan.timeouts:
            ref = reference_ms(s, timeout)
            if ref is not None:
                found.append(ref + timeout.timeout_s * 1000)
        for since_ms in s.level_since_ms.values():
            found.append(since_ms + plan.on_delay_ms)
        if s.clear_since_ms is not None:
            found.append(s.clear_since_ms + plan.off_delay_ms)
        if self.activity is not None:
            found.append(self.activity)
        after = s.last_eval_ms
        if after is not None:
            found = [d for d in found if d > after]
        return min(found, default=None)

    # --- samples ---------------------------------------------------------------------------------

    def ingest(self, ts_ms: int, ordered: Sequence[RawSample], start: int, stop: int) -> None:
        """Take in the samples `ordered[start:stop]` of instant `ts_ms`: latest values and windows."""
        s, plan = self.s, self.plan
        if s.last_activity_ms is None or ts_ms > s.last_activity_ms:
            s.last_activity_ms = ts_ms
        keys, by_key, latest = plan.keys, plan.ingest_by_key, s.latest
        for k in range(start, stop):
            _, key, raw = ordered[k]
            if raw is None:
                continue
            value = raw if raw.__class__ is float else as_value(raw)
            if key in keys:
                latest[key] = (ts_ms, value)
            ingests = by_key.get(key)
            if ingests is not None:
                for ingest in ingests:
                    ingest(s, ts_ms, value)

    # --- one instant -----------------------------------------------------------------------------

    def step(self, t_ms: int) -> None:
        """Evaluate the rule at instant `t_ms`."""
        s, plan = self.s, self.plan
        s.last_eval_ms = t_ms
        activity = self.activity
        if activity is not None and activity <= t_ms:
            known = s.last_activity_ms
            if known is None or activity > known:
                s.last_activity_ms = activity
        if plan.windowed:
            self._prune(t_ms)
        if plan.durations:  # post-order: inner durations settle before outer ones
            since = s.duration_since_ms
            for path, inner, _ in plan.durations:
                if inner(s, self.attrs, t_ms):
                    since.setdefault(path, t_ms)
                else:
                    since.pop(path, None)
        self._update_alarm(t_ms)

    def quiet_step(self, t_ms: int) -> bool:
        """`step` for a rule without timers whose alarm is inactive with no level pending, when no level
        holds at `t_ms` (then returns True; else False, having changed nothing): the common case on the
        ingest path, without the general state machine."""
        s, attrs = self.s, self.attrs
        if s.active_severity is not None or s.level_since_ms:
            return False
        for _severity, _name, _rank, check in self.plan.levels:
            if check(s, attrs, t_ms):
                return False
        # what `step` does when nothing holds: no durations (no timers), no level starts, no alarm
        s.last_eval_ms = t_ms
        activity = self.activity
        if activity is not None and activity <= t_ms:
            known = s.last_activity_ms
            if known is None or activity > known:
                s.last_activity_ms = activity
        if self.plan.windowed:
            self._prune(t_ms)
        s.clear_since_ms = None
        return True

    def _prune(self, t_ms: int) -> None:
        s, plan = self.s, self.plan
        for path, window_ms in plan.counts:
            ts_list = s.count_ts_ms.get(path)
            if ts_list is not None:
                horizon = t_ms - window_ms
                while ts_list and ts_list[0] <= horizon:
                    ts_list.pop(0)
        for path, window_ms in plan.rates:
            window = s.windows.get(path)
            if window is not None:
                drop_before(window, t_ms - window_ms)
        for path, window_ms in plan.deviations:
            window = s.windows.get(path)
            if window is not None:
                window_sums(s, path, window).drop_before(window, t_ms - window_ms)

    # --- the alarm -------------------------------------------------------------------------------

    def _level_holds(self, severity: Severity, t_ms: int) -> bool:
        """The level's condition with the deadband: the alarm may keep (or fall back to) this severity."""
        check = self.plan.kept.get(severity)
        return check is not None and check(self.s, self.attrs, t_ms)

    def _update_alarm(self, t_ms: int) -> None:
        s, plan, attrs = self.s, self.plan, self.attrs
        since = s.level_since_ms
        for _severity, name, _rank, check in plan.levels:
            if check(s, attrs, t_ms):
                since.setdefault(name, t_ms)
            else:
                since.pop(name, None)
        top: Severity | None = None
        top_rank = 0
        if since:
            on_delay_ms = plan.on_delay_ms
            for severity, name, rank, _check in plan.levels:
                started = since.get(name)
                if started is not None and t_ms - started >= on_delay_ms and rank > top_rank:
                    top, top_rank = severity, rank
        if s.active_severity is None:
            s.clear_since_ms = None
            if top is not None:
                self._emit(TransitionKind.RAISE, top, None, t_ms)
            return
        active = Severity(s.active_severity)
        if top is not None and top.rank > active.rank:
            self._emit(TransitionKind.ESCALATE, top, active, t_ms)
            return
        if self._level_holds(active, t_ms):
            s.clear_since_ms = None
            return
        lower = [
            lv.severity
            for lv in self.rule.levels
            if lv.severity.rank < active.rank and (lv.severity is top or self._level_holds(lv.severity, t_ms))
        ]
        if lower:
            self._emit(TransitionKind.DEESCALATE, max(lower, key=lambda sev: sev.rank), active, t_ms)
            return
        self._clear_if_due(active, t_ms)

    def _clear_if_due(self, active: Severity, t_ms: int) -> None:
        s, clear = self.s, self.plan.clear
        if clear is not None and not clear(s, self.attrs, t_ms):
            s.clear_since_ms = None  # in the deadband between raise and clear: the alarm holds
            return
        if s.clear_since_ms is None:
            s.clear_since_ms = t_ms
        if t_ms - s.clear_since_ms >= self.plan.off_delay_ms:
            self._emit(TransitionKind.CLEAR, active, active, t_ms)

    def _emit(self, kind: TransitionKind, severity: Severity, previous: Severity | None, t_ms: int) -> None:
        s, rule = self.s, self.rule
        s.active_severity = None if kind is TransitionKind.CLEAR else severity.value
        s.clear_since_ms = None
        values = tuple(sorted((key, sample[1]) for key, sample in s.latest.items()))
        self.transitions.append(
            AlarmTransition(kind, rule.id, rule.alarm_type, severity, previous, t_ms, rule.latching, values)
        )
