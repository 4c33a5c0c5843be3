"""Alarm rule parsing: valid rules round-trip through JSON; invalid ones name the JSON path of the mistake."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openiiot.domain.alarms import (
    AllOf,
    AnyOf,
    Duration,
    Severity,
    Threshold,
    parse_rule,
    rule_fingerprint,
    rule_to_dict,
)
from openiiot.domain.alarms.conditions import Op
from openiiot.domain.errors import ValidationFailed


def _rule(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "r1",
        "name": "Discharge temperature",
        "alarm_type": "High temperature",
        "levels": [
            {"severity": "major", "condition": {"type": "threshold", "key": "t", "op": ">", "value": 80}},
            {
                "severity": "critical",
                "condition": {
                    "type": "or",
                    "children": [
                        {"type": "threshold", "key": "t", "op": ">", "value": 95},
                        {"type": "threshold", "key": "p", "op": ">=", "value": 9.5},
                    ],
                },
            },
        ],
        "clear": {"deadband": 2},
    }
    raw.update(overrides)
    return raw


def test_a_valid_rule_parses_into_levels_with_a_top_level_or() -> None:
    rule = parse_rule(_rule())
    assert [lv.severity for lv in rule.levels] == [Severity.MAJOR, Severity.CRITICAL]
    critical = rule.levels[1].condition
    assert isinstance(critical, AnyOf)
    assert critical.children[1] == Threshold("p", Op.GE, 9.5)
    assert rule.clear.deadband == 2.0
    assert rule.on_delay_s == 0 and not rule.latching


def _bad(path: list[Any], value: Any) -> dict[str, Any]:
    raw = _rule()
    target: Any = raw
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


_DELETE = object()
_CRIT = ["levels", 1, "condition", "children", 0]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ([*_CRIT, "op"], "=>", "levels[1].condition.children[0].op"),
        ([*_CRIT, "key"], _DELETE, "levels[1].condition.children[0].key"),
        ([*_CRIT, "key"], "bad key!", "levels[1].condition.children[0].key"),
        ([*_CRIT, "value"], float("nan"), "levels[1].condition.children[0].value"),
        ([*_CRIT, "value"], "hot", "levels[1].condition.children[0].op"),  # text allows only == / !=
        ([*_CRIT, "treshold"], 3, "levels[1].condition.children[0].treshold"),  # typo is caught
        ([*_CRIT, "type"], "between", "levels[1].condition.children[0].type"),
        (["levels", 1, "condition", "children"], [], "levels[1].condition.children"),  # empty OR
        (["levels", 0, "severity"], "fatal", "levels[0].severity"),
        (["levels", 1, "severity"], "major", "levels[1].severity"),  # duplicate severity
        (["levels"], [], "levels"),
        (["on_delay_s"], -5, "on_delay_s"),
        (["off_delay_s"], 1.5, "off_delay_s"),
        (["clear", "deadband"], -1, "clear.deadband"),
        (["name"], "  ", "name"),
        (["latching"], "yes", "latching"),
    ],
)
def test_an_invalid_rule_names_the_bad_part(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_rule(_bad(path, value))
    assert err.value.field == field


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (
            {"type": "duration", "duration_s": -300, "condition": {"type": "inactive", "timeout_s": 60}},
            "levels[0].condition.duration_s",
        ),
        (
            {
                "type": "count",
                "count": 3,
                "window_s": 86_401,
                "condition": {"type": "threshold", "key": "t", "op": ">", "value": 1},
            },
            "levels[0].condition.window_s",
        ),
        (
            {"type": "count", "count": 3, "window_s": 60, "condition": {"type": "inactive", "timeout_s": 60}},
            "levels[0].condition.condition",
        ),
        (
            {"type": "rate", "key": "t", "op": ">", "value": 1, "per": "hour", "window_s": 60},
            "levels[0].condition.per",
        ),
        (
            {"type": "deviation", "key": "t", "window_s": 600, "min_samples": 10, "sigma": 3, "abs": 2},
            "levels[0].condition.sigma",
        ),
        (
            {"type": "deviation", "key": "t", "window_s": 600, "min_samples": 1, "sigma": 3},
            "levels[0].condition.min_samples",
        ),
        ({"type": "range", "key": "t", "lo": 5, "hi": 1}, "levels[0].condition.lo"),
        ({"type": "no_data", "key": "t", "timeout_s": 0}, "levels[0].condition.timeout_s"),
        ({"type": "not"}, "levels[0].condition.child"),
        (
            {"type": "and", "children": [{"type": "and", "children": []}]},
            "levels[0].condition.children[0].children",
        ),
        ("t > 80", "levels[0].condition.type"),
    ],
)
def test_invalid_leaves_name_their_field(condition: Any, field: str) -> None:
    raw = _rule(levels=[{"severity": "minor", "condition": condition}])
    with pytest.raises(ValidationFailed) as err:
        parse_rule(raw)
    assert err.value.field == field


def test_an_explicit_clear_condition_refuses_a_deadband() -> None:
    raw = _rule(clear={"condition": {"type": "threshold", "key": "t", "op": "<", "value": 70}, "deadband": 3})
    with pytest.raises(ValidationFailed) as err:
        parse_rule(raw)
    assert err.value.field == "clear.deadband"


def test_a_tree_that_nests_too_deep_is_refused() -> None:
    node: dict[str, Any] = {"type": "threshold", "key": "t", "op": ">", "value": 1}
    for _ in range(20):
        node = {"type": "not", "child": node}
    with pytest.raises(ValidationFailed, match="deeper"):
        parse_rule(_rule(levels=[{"severity": "minor", "condition": node}]))


# --- round trips --------------------------------------------------------------------------------

_keys = st.sampled_from(["t", "p", "flow", "vib.rms"])
_seconds = st.integers(1, 86_400)
_numbers = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: float(x))
_threshold = st.builds(
    lambda k, op, v, src: {"type": "threshold", "key": k, "op": op, "value": v, "source": src},
    _keys,
    st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
    _numbers,
    st.sampled_from(["telemetry", "attribute"]),
)
_range = st.builds(
    lambda k, a, b, inside: {"type": "range", "key": k, "lo": min(a, b), "hi": max(a, b), "inside": inside},
    _keys,
    _numbers,
    _numbers,
    st.booleans(),
)
_tele_threshold = _threshold.map(lambda d: {**d, "source": "telemetry"})
_leaves = st.one_of(
    _threshold,
    _range,
    st.builds(
        lambda c, n, w: {"type": "count", "condition": c, "count": n, "window_s": w},
        _tele_threshold,
        st.integers(1, 50),
        _seconds,
    ),
    st.builds(
        lambda k, v, per, w: {"type": "rate", "key": k, "op": ">", "value": v, "per": per, "window_s": w},
        _keys,
        _numbers,
        st.sampled_from(["s", "min"]),
        _seconds,
    ),
    st.builds(
        lambda k, w, n, s: {"type": "deviation", "key": k, "window_s": w, "min_samples": n, "sigma": s},
        _keys,
        _seconds,
        st.integers(2, 100),
        st.floats(0.1, 10),
    ),
    st.builds(lambda k, t: {"type": "no_data", "key": k, "timeout_s": t}, _keys, _seconds),
    st.builds(lambda t: {"type": "inactive", "timeout_s": t}, _seconds),
)
_conditions = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(lambda cs: {"type": "and", "children": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"type": "or", "children": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"type": "not", "child": c}, inner),
        st.builds(lambda c, d: {"type": "duration", "condition": c, "duration_s": d}, inner, _seconds),
    ),
    max_leaves=8,
)
_rules = st.builds(
    lambda sevs, conds, clear, on, off, latch: {
        "id": "rule-1",
        "name": "n",
        "alarm_type": "type",
        "levels": [{"severity": s, "condition": c} for s, c in zip(sevs, conds, strict=False)],
        "clear": clear,
        "on_delay_s": on,
        "off_delay_s": off,
        "latching": latch,
    },
    st.lists(st.sampled_from(["critical", "major", "minor", "warning"]), min_size=1, max_size=4, unique=True),
    st.lists(_conditions, min_size=4, max_size=4),
    st.one_of(st.just({"deadband": 1.5}), _conditions.map(lambda c: {"condition": c})),
    st.integers(0, 3600),
    st.integers(0, 3600),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(_rules)
def test_rules_round_trip_through_json(raw: dict[str, Any]) -> None:
    rule = parse_rule(raw)
    as_json = json.loads(json.dumps(rule_to_dict(rule)))
    again = parse_rule(as_json)
    assert again == rule
    assert rule_fingerprint(again) == rule_fingerprint(rule)


@settings(max_examples=150, deadline=None)
@given(_rules, st.data())
def test_corrupting_one_field_is_reported_not_crashed(raw: dict[str, Any], data: st.DataObject) -> None:
    raw = copy.deepcopy(raw)
    raw["levels"][0]["condition"] = data.draw(st.sampled_from([None, 7, "x", [], {"type": "and"}]))
    with pytest.raises(ValidationFailed) as err:
        parse_rule(raw)
    assert err.value.field is not None and err.value.field.startswith("levels[0].condition")


def test_nested_duration_parses() -> None:
    rule = parse_rule(
        _rule(
            levels=[
                {
                    "severity": "minor",
                    "condition": {
                        "type": "duration",
                        "duration_s": 300,
                        "condition": {
                            "type": "and",
                            "children": [{"type": "threshold", "key": "t", "op": ">", "value": 1}],
                        },
                    },
                }
            ]
        )
    )
    cond = rule.levels[0].condition
    assert isinstance(cond, Duration) and isinstance(cond.condition, AllOf)
    assert cond.duration_s == 300
