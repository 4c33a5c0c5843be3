"""Condition trees compiled into closures: the truth of a node at an instant, without walking the tree.

A check reads the rule state, the originator's attributes and the instant, exactly as the tree's meaning in
docs/decisions/0006-alarm-rules.md says; node paths, leaf bounds shifted by the deadband and comparison
operators are all settled once per rule instead of at every instant the evaluator visits.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

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
    Op,
    RateOfChange,
    Source,
    Threshold,
    Value,
    compare,
)
from openiiot.domain.alarms.conditions import Range as RangeCond
from openiiot.domain.alarms.leaves import rate_of
from openiiot.domain.alarms.state import RuleState

Attributes = Mapping[str, float | str | bool]
Check = Callable[[RuleState, Attributes, int], bool]  # (state, attributes, t_ms) -> holds
ValueTest = Callable[[Value], bool]

_ORDER = {Op.GT: operator.gt, Op.GE: operator.ge, Op.LT: operator.lt, Op.LE: operator.le}


def as_value(value: float | str | bool) -> Value:
    """A sample or attribute as compared: text stays text, numbers and booleans become floats."""
    return value if isinstance(value, str) else float(value)


def compile_check(node: Condition, path: str, deadband: float, polarity: int) -> Check:
    """The check of `node` (at JSON path `path`); polarity +1 relaxes thresholds by the deadband, -1
    tightens them (`leaf_holds`)."""
    if isinstance(node, Threshold | RangeCond):
        return _leaf_check(node, value_test(node, deadband * polarity))
    if isinstance(node, AllOf | AnyOf):
        children = tuple(
            compile_check(c, f"{path}.children[{i}]", deadband, polarity) for i, c in enumerate(node.children)
        )
        return _all_of(children) if isinstance(node, AllOf) else _any_of(children)
    if isinstance(node, Not):
        child = compile_check(node.child, f"{path}.child", deadband, -polarity)
        return lambda s, attrs, t: not child(s, attrs, t)
    if isinstance(node, Duration):
        if polarity > 0:  # once raised, the alarm stays while the inner condition (with deadband) holds
            return compile_check(node.condition, f"{path}.condition", deadband, polarity)
        return _duration_check(path, node.duration_s * 1000)
    if isinstance(node, CountInWindow):
        count = node.count
        return lambda s, attrs, t: len(s.count_ts_ms.get(path, ())) >= count
    if isinstance(node, RateOfChange):
        return _rate_check(path, node)
    if isinstance(node, Deviation):
        return lambda s, attrs, t: s.deviation_verdicts.get(path, False)
    return _timeout_check(node)


def _leaf_check(node: Threshold | RangeCond, test: ValueTest) -> Check:
    key = node.key
    if node.source is Source.ATTRIBUTE:

        def attribute_holds(s: RuleState, attrs: Attributes, t: int) -> bool:
            raw = attrs.get(key)
            return raw is not None and test(as_value(raw))

        return attribute_holds

    def telemetry_holds(s: RuleState, attrs: Attributes, t: int) -> bool:
        latest = s.latest.get(key)
        return latest is not None and test(latest[1])

    return telemetry_holds


def value_test(node: Threshold | RangeCond, shift: float) -> ValueTest:
    """`leaf_holds(node, x, deadband, polarity)` as a function of x alone (shift = deadband * polarity)."""
    if isinstance(node, RangeCond):
        if node.inside:
            lo, hi = node.lo - shift, node.hi + shift
            return lambda x: not isinstance(x, str) and lo <= x <= hi
        below, above = node.lo + shift, node.hi - shift
        return lambda x: not isinstance(x, str) and (x < below or x > above)
    op, v = node.op, node.value
    if isinstance(v, str):  # text compares only for equality
        return lambda x: compare(op, x, v)
    if op in _ORDER:
        bound = v if shift == 0 else (v - shift if op in (Op.GT, Op.GE) else v + shift)
        order = _ORDER[op]
        return lambda x: not isinstance(x, str) and order(x, bound)
    if op is Op.EQ:
        if shift > 0:
            return lambda x: not isinstance(x, str) and abs(x - v) <= shift
        return lambda x: x == v
    if shift < 0:
        return lambda x: isinstance(x, str) or abs(x - v) > -shift
    return lambda x: x != v


def _all_of(children: tuple[Check, ...]) -> Check:
    def all_hold(s: RuleState, attrs: Attributes, t: int) -> bool:
        for child in children:  # noqa: SIM110  (no generator per call: this runs per instant and rule)
            if not child(s, attrs, t):
                return False
        return True

    return all_hold


def _any_of(children: tuple[Check, ...]) -> Check:
    def any_holds(s: RuleState, attrs: Attributes, t: int) -> bool:
        for child in children:  # noqa: SIM110  (no generator per call: this runs per instant and rule)
            if child(s, attrs, t):
                return True
        return False

    return any_holds


def _duration_check(path: str, duration_ms: int) -> Check:
    def duration_holds(s: RuleState, attrs: Attributes, t: int) -> bool:
        since = s.duration_since_ms.get(path)
        return since is not None and t - since >= duration_ms

    return duration_holds


def _rate_check(path: str, node: RateOfChange) -> Check:
    op, value, per = node.op, node.value, node.per

    def rate_holds(s: RuleState, attrs: Attributes, t: int) -> bool:
        rate = rate_of(s.windows.get(path, []), per)
        return rate is not None and compare(op, rate, value)

    return rate_holds


def reference_ms(s: RuleState, node: NoData | Inactive) -> int | None:
    """The instant a no-data or inactivity timeout counts from (the last sample or activity, else the
    first evaluation)."""
    if isinstance(node, NoData):
        latest = s.latest.get(node.key)
        return latest[0] if latest is not None else s.started_ms
    return s.last_activity_ms if s.last_activity_ms is not None else s.started_ms


def _timeout_check(node: NoData | Inactive) -> Check:
    timeout_ms = node.timeout_s * 1000

    def timed_out(s: RuleState, attrs: Attributes, t: int) -> bool:
        ref = reference_ms(s, node)
        return ref is not None and t - ref >= timeout_ms

    return timed_out
