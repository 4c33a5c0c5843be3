"""A rule compiled for evaluation: its conditions as closures, its windows' ingest functions, its timers.

Compiled once per rule object (looked up by identity, shared between equal rules), so the evaluator's
per-instant work is calls to prepared closures (docs/decisions/0006-alarm-rules.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from openiiot.domain.alarms.baseline import WindowSums
from openiiot.domain.alarms.checks import Check, compile_check, value_test
from openiiot.domain.alarms.conditions import (
    Condition,
    CountInWindow,
    Deviation,
    Duration,
    Inactive,
    NoData,
    RateOfChange,
    Source,
    Threshold,
    Value,
    walk,
)
from openiiot.domain.alarms.conditions import Range as RangeCond
from openiiot.domain.alarms.leaves import append_bounded, deviates_running
from openiiot.domain.alarms.rules import AlarmRule, Severity, rule_fingerprint
from openiiot.domain.alarms.state import COUNT_SERIES, MAX_WINDOW_SAMPLES, WINDOW_SERIES, RuleState

_PLAN_CACHE_MAX = 4096
Ingest = Callable[[RuleState, int, Value], None]  # takes one sample of the node's key into the state


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """A rule compiled for evaluation, once per rule object."""

    rule: AlarmRule
    fingerprint: str
    keys: frozenset[str]  # telemetry keys whose latest value the rule reads
    relevant: frozenset[str] | None  # see `evaluator.relevant_keys`
    ingest_by_key: Mapping[str, tuple[Ingest, ...]]  # window nodes fed by each key
    # the levels in rule order: severity, its stored name, its rank and the condition's check
    levels: tuple[tuple[Severity, str, int, Check], ...]
    kept: Mapping[Severity, Check]  # a level's condition with the deadband: the alarm keeps that severity
    clear: Check | None
    durations: tuple[tuple[str, Check, int], ...]  # path, inner condition, duration ms (post-order)
    counts: tuple[tuple[str, int], ...]  # path, window ms
    rates: tuple[tuple[str, int], ...]  # path, window ms
    deviations: tuple[tuple[str, int], ...]  # path, window ms
    windowed: bool  # any count, rate or deviation window to prune
    timeouts: tuple[NoData | Inactive, ...]
    on_delay_ms: int
    off_delay_ms: int
    # the shortest timer: a deadline created at instant t lies at or after t + this (None: not positive)
    min_timer_ms: int | None
    timed: bool  # any timer: a timed node or an on/off delay (else samples alone change the alarm)


def _telemetry_key(node: Condition) -> str | None:
    if isinstance(node, Threshold | RangeCond):
        return node.key if node.source is Source.TELEMETRY else None
    if isinstance(node, RateOfChange | Deviation | NoData):
        return node.key
    if isinstance(node, CountInWindow):
        return node.condition.key
    return None


_plans: dict[int, tuple[AlarmRule, Plan]] = {}


def plan_of(rule: AlarmRule) -> Plan:
    """The rule's plan, looked up by identity: hashing a rule (a tree of dataclasses) costs more than a
    whole evaluation of it. Equal rules share the compiled plan through `_compile`'s cache."""
    hit = _plans.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    plan = _compile(rule)
    if len(_plans) >= _PLAN_CACHE_MAX:
        _plans.clear()
    _plans[id(rule)] = (rule, plan)
    return plan


@lru_cache(maxsize=1024)
def _compile(rule: AlarmRule) -> Plan:
    roots = [(f"levels[{i}].condition", lv.condition) for i, lv in enumerate(rule.levels)]
    if rule.clear.condition is not None:
        roots.append(("clear.condition", rule.clear.condition))
    nodes = tuple(item for path, root in roots for item in walk(root, path))
    ingest: dict[str, list[Ingest]] = {}
    for path, node in nodes:
        if isinstance(node, CountInWindow):
            ingest.setdefault(node.condition.key, []).append(_count_ingest(path, node))
        elif isinstance(node, RateOfChange):
            ingest.setdefault(node.key, []).append(_rate_ingest(path))
        elif isinstance(node, Deviation):
            ingest.setdefault(node.key, []).append(_deviation_ingest(path, node))
    keys = frozenset(k for _, node in nodes if (k := _telemetry_key(node)) is not None)
    deadband = rule.clear.deadband
    levels = tuple(
        (
            lv.severity,
            lv.severity.value,
            lv.severity.rank,
            compile_check(lv.condition, f"levels[{i}].condition", deadband, 0),
        )
        for i, lv in enumerate(rule.levels)
    )
    return Plan(
        rule=rule,
        fingerprint=rule_fingerprint(rule),
        keys=keys,
        relevant=None
        if any(isinstance(node, Inactive | NoData) for _, node in nodes)
        else keys | frozenset(ingest),
        ingest_by_key={k: tuple(v) for k, v in ingest.items()},
        levels=levels,
        kept={
            lv.severity: compile_check(lv.condition, f"levels[{i}].condition", deadband, 1)
            for i, lv in enumerate(rule.levels)
        },
        clear=None
        if rule.clear.condition is None
        else compile_check(rule.clear.condition, "clear.condition", deadband, 0),
        durations=tuple(
            (p, compile_check(n.condition, f"{p}.condition", deadband, 0), n.duration_s * 1000)
            for p, n in nodes
            if isinstance(n, Duration)
        ),
        counts=tuple((p, n.window_s * 1000) for p, n in nodes if isinstance(n, CountInWindow)),
        rates=tuple((p, n.window_s * 1000) for p, n in nodes if isinstance(n, RateOfChange)),
        deviations=tuple((p, n.window_s * 1000) for p, n in nodes if isinstance(n, Deviation)),
        timeouts=tuple(n for _, n in nodes if isinstance(n, NoData | Inactive)),
        windowed=any(isinstance(n, CountInWindow | RateOfChange | Deviation) for _, n in nodes),
        on_delay_ms=rule.on_delay_s * 1000,
        off_delay_ms=rule.off_delay_s * 1000,
        min_timer_ms=_min_timer_ms(rule, nodes),
        timed=rule.on_delay_s > 0
        or rule.off_delay_s > 0
        or any(isinstance(n, Duration | CountInWindow | RateOfChange | NoData | Inactive) for _, n in nodes),
    )


def _min_timer_ms(rule: AlarmRule, nodes: Sequence[tuple[str, Condition]]) -> int | None:
    """The shortest timer of the rule in ms, or None when a node's timer is not positive (then no bound)."""
    node_timers: list[int] = []
    for _, n in nodes:
        if isinstance(n, Duration):
            node_timers.append(n.duration_s)
        elif isinstance(n, NoData | Inactive):
            node_timers.append(n.timeout_s)
        elif isinstance(n, CountInWindow | RateOfChange):
            node_timers.append(n.window_s)
    # a zero on/off delay puts its deadline at the instant itself, never after the evaluated one: no limit
    delays = [d for d in (rule.on_delay_s, rule.off_delay_s) if d != 0]
    timers = node_timers + delays
    if not timers or min(timers) <= 0:
        return None
    return min(timers) * 1000


# Each ingest counts what it appends in `RuleState.appended`, so the engine stores only those items.


def _count_ingest(path: str, node: CountInWindow) -> Ingest:
    matches = value_test(node.condition, 0.0)
    series = COUNT_SERIES + path

    def ingest(s: RuleState, ts_ms: int, value: Value) -> None:
        if matches(value):
            append_bounded(s.count_ts_ms.setdefault(path, []), ts_ms)
            appended = s.appended
            appended[series] = appended.get(series, 0) + 1

    return ingest


def _rate_ingest(path: str) -> Ingest:
    series = WINDOW_SERIES + path

    def ingest(s: RuleState, ts_ms: int, value: Value) -> None:
        if not isinstance(value, str):
            append_bounded(s.windows.setdefault(path, []), (ts_ms, value))
            appended = s.appended
            appended[series] = appended.get(series, 0) + 1

    return ingest


def _deviation_ingest(path: str, node: Deviation) -> Ingest:
    window_ms = node.window_s * 1000
    series = WINDOW_SERIES + path

    def ingest(s: RuleState, ts_ms: int, value: Value) -> None:
        if isinstance(value, str):
            return
        appended = s.appended
        appended[series] = appended.get(series, 0) + 1
        window = s.windows.setdefault(path, [])
        sums = window_sums(s, path, window)
        sums.drop_before(window, ts_ms - window_ms)
        s.deviation_verdicts[path] = deviates_running(node, window, sums, value)
        sample = (ts_ms, value)
        window.append(sample)
        sums.add(sample)
        if len(window) > MAX_WINDOW_SAMPLES:
            sums.remove(window[0])
            del window[0]

    return ingest


def window_sums(s: RuleState, path: str, window: list[tuple[int, Value]]) -> WindowSums:
    """The running sums of a deviation window, rebuilt when the state came without them (a restart)."""
    sums = s.deviation_sums.get(path)
    if sums is None or not sums.matches(window):
        sums = s.deviation_sums[path] = WindowSums.of(window)
    return sums
