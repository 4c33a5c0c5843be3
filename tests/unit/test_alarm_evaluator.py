"""The alarm evaluator: each condition type, trees, severities, hysteresis, delays, and restart safety."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openiiot.domain.alarms import (
    AlarmRule,
    AlarmTransition,
    EvalContext,
    RawSample,
    RuleState,
    evaluate,
    parse_rule,
    release_alarm,
    tick,
)

S = 1000  # ms per second
History = list[tuple[str, str, int]]  # kind, severity, ts_ms


def make_rule(*levels: tuple[str, dict[str, Any]], **options: Any) -> AlarmRule:
    """A rule with the given (severity, condition) levels."""
    raw = {"id": "r1", "name": "rule", "alarm_type": "Test alarm", **options}
    raw["levels"] = [{"severity": sev, "condition": cond} for sev, cond in levels]
    return parse_rule(raw)


def cmp(key: str, op: str, value: float | str, **extra: Any) -> dict[str, Any]:
    """A threshold leaf."""
    return {"type": "threshold", "key": key, "op": op, "value": value, **extra}


def feed(
    rule: AlarmRule,
    samples: Sequence[RawSample],
    now_ms: int | None = None,
    state: RuleState | None = None,
    context: EvalContext | None = None,
) -> tuple[RuleState, History]:
    """Evaluate one batch; now defaults to the last sample."""
    now = now_ms if now_ms is not None else max(ts for ts, _, _ in samples)
    new_state, transitions = evaluate(rule, state or RuleState(), samples, now, context)
    return new_state, summary(transitions)


def summary(transitions: list[AlarmTransition]) -> History:
    """(kind, severity, ts) triples, easy to compare."""
    return [(t.kind.value, t.severity.value, t.ts_ms) for t in transitions]


def series(key: str, *points: tuple[float, float | str]) -> list[RawSample]:
    """Samples of one key from (seconds, value) pairs."""
    return [(int(sec * S), key, value) for sec, value in points]


# --- threshold, range, hysteresis ------------------------------------------------------------------


def test_a_value_exactly_at_a_strict_threshold_does_not_raise() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)))
    _, history = feed(rule, series("t", (0, 80.0)))
    assert history == []
    _, history = feed(rule, series("t", (0, 80.0), (1, 80.001)))
    assert history == [("raise", "major", 1000)]
    _, history = feed(make_rule(("major", cmp("t", ">=", 80))), series("t", (0, 80.0)))
    assert history == [("raise", "major", 0)]


def test_text_values_compare_for_equality() -> None:
    rule = make_rule(("minor", cmp("mode", "==", "fault")))
    _, history = feed(rule, series("mode", (0, "run"), (5, "fault"), (9, "run")))
    assert history == [("raise", "minor", 5000), ("clear", "minor", 9000)]


def test_range_bounds_are_inclusive_and_outside_is_the_complement() -> None:
    outside = make_rule(("minor", {"type": "range", "key": "p", "lo": 2, "hi": 8, "inside": False}))
    _, history = feed(outside, series("p", (0, 2.0), (1, 8.0), (2, 8.01), (3, 5.0), (4, 1.99)))
    assert history == [("raise", "minor", 2000), ("clear", "minor", 3000), ("raise", "minor", 4000)]


def test_without_deadband_a_noisy_value_chatters() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)))
    _, history = feed(rule, series("t", (0, 81), (1, 79), (2, 81), (3, 79)))
    assert [kind for kind, _, _ in history] == ["raise", "clear", "raise", "clear"]


def test_a_deadband_holds_the_alarm_until_the_value_is_clearly_back() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)), clear={"deadband": 5})
    _, history = feed(rule, series("t", (0, 81), (1, 79), (2, 81), (3, 76), (4, 75.5), (5, 75)))
    assert history == [("raise", "major", 0), ("clear", "major", 5000)]  # clears at x <= 80 - 5


def test_an_explicit_clear_condition_gives_hysteresis() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)), clear={"condition": cmp("t", "<", 70)})
    _, history = feed(rule, series("t", (0, 85), (1, 75), (2, 72), (3, 69)))
    assert history == [("raise", "major", 0), ("clear", "major", 3000)]


# --- delays ----------------------------------------------------------------------------------------


def test_on_delay_raises_only_after_the_condition_held_long_enough() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)), on_delay_s=10)
    # a 5 s excursion never raises; the next one raises 10 s after it started, found by a later tick
    state, history = feed(rule, series("t", (0, 85), (5, 70), (6, 90)), now_ms=15_999)
    assert history == []
    _, history = feed(rule, [], now_ms=60 * S, state=state)
    assert history == [("raise", "major", 16_000)]


def test_off_delay_clears_only_after_normal_held_long_enough() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)), off_delay_s=30)
    state, history = feed(rule, series("t", (0, 85), (10, 70), (20, 85), (25, 70)), now_ms=54_999)
    assert history == [("raise", "major", 0)]  # the bounce at 20 s restarted the off-delay
    _, history = feed(rule, [], now_ms=100 * S, state=state)
    assert history == [("clear", "major", 55_000)]


# --- timed and windowed leaves ---------------------------------------------------------------------


def _above_for(seconds: int) -> dict[str, Any]:
    return {"type": "duration", "duration_s": seconds, "condition": cmp("t", ">", 80)}


def test_duration_raises_when_the_condition_held_for_the_whole_duration() -> None:
    rule = make_rule(("major", _above_for(300)))
    state, history = feed(rule, series("t", (0, 85), (100, 90)), now_ms=299_999)
    assert history == []
    _, history = feed(rule, [], now_ms=400 * S, state=state)
    assert history == [("raise", "major", 300_000)]


def test_a_duration_completing_between_samples_is_stamped_when_it_completed() -> None:
    rule = make_rule(("major", _above_for(300)))
    _, history = feed(rule, series("t", (0, 85), (400, 86)))
    assert history == [("raise", "major", 300_000)]


def test_duration_restarts_when_the_condition_breaks() -> None:
    rule = make_rule(("major", _above_for(300)))
    _, history = feed(rule, series("t", (0, 85), (200, 70), (250, 85)), now_ms=1000 * S)
    assert history == [("raise", "major", 550_000)]


def test_count_in_window_raises_on_the_nth_match_and_clears_when_one_leaves() -> None:
    count = {"type": "count", "count": 3, "window_s": 60, "condition": cmp("t", ">", 100)}
    rule = make_rule(("minor", count))
    samples = series("t", (0, 101), (10, 50), (30, 120), (59, 130))
    _, history = feed(rule, samples, now_ms=120 * S)
    # the match at 0 s leaves the (t - 60 s, t] window at exactly 60 s
    assert history == [("raise", "minor", 59_000), ("clear", "minor", 60_000)]


def test_rate_of_change_per_minute_over_a_window() -> None:
    rate = {"type": "rate", "key": "t", "op": ">", "value": 10, "per": "min", "window_s": 60}
    rule = make_rule(("warning", rate))
    # 20 -> 24 in 30 s is 8/min; 20 -> 26 in 36 s is 10/min (not > 10); 20 -> 28 in 42 s is 11.43/min
    _, history = feed(rule, series("t", (0, 20), (30, 24), (36, 26), (42, 28)))
    assert history == [("raise", "warning", 42_000)]


def test_rate_of_change_per_second_uses_only_the_window() -> None:
    rate = {"type": "rate", "key": "p", "op": "<", "value": -0.5, "per": "s", "window_s": 10}
    rule = make_rule(("major", rate))
    # a slow fall over 20 s never shows a fast rate; a 6-unit drop in 4 s does (-1.5/s)
    samples = series("p", (0, 10), (20, 4), (24, -2))
    _, history = feed(rule, samples, now_ms=24 * S)
    assert history == [("raise", "major", 24_000)]


def test_deviation_from_a_rolling_baseline() -> None:
    dev = {"type": "deviation", "key": "vib", "window_s": 600, "min_samples": 5, "sigma": 3}
    rule = make_rule(("minor", dev))
    baseline = [(i * 10, v) for i, v in enumerate([50.0, 51.0, 49.0, 50.0, 51.0, 49.0])]
    # mean 50, sample std 0.894: 52 is 2.2 std away (normal), 53 is 3.35 std (deviates)
    _, history = feed(rule, series("vib", *baseline, (60, 52.0)))
    assert history == []
    _, history = feed(rule, series("vib", *baseline, (60, 53.0), (70, 50.0)))
    assert history == [("raise", "minor", 60_000), ("clear", "minor", 70_000)]


def test_deviation_needs_its_minimum_samples() -> None:
    dev = {"type": "deviation", "key": "vib", "window_s": 600, "min_samples": 5, "abs": 2}
    rule = make_rule(("minor", dev))
    _, history = feed(rule, series("vib", (0, 50), (10, 50), (20, 50), (30, 90)))
    assert history == []


def test_no_data_raises_after_the_timeout_and_clears_on_the_next_sample() -> None:
    rule = make_rule(("major", {"type": "no_data", "key": "flow", "timeout_s": 60}))
    state, history = feed(rule, series("flow", (0, 3.2)), now_ms=59_999)
    assert history == []
    state, history = feed(rule, [], now_ms=120 * S, state=state)
    assert history == [("raise", "major", 60_000)]
    _, history = feed(rule, series("flow", (130, 3.1)), state=state)
    assert history == [("clear", "major", 130_000)]


def test_no_data_for_a_key_never_seen_counts_from_the_first_evaluation() -> None:
    rule = make_rule(("major", {"type": "no_data", "key": "flow", "timeout_s": 60}))
    state, _ = feed(rule, series("t", (10, 1.0)))
    _, history = feed(rule, [], now_ms=100 * S, state=state)
    assert history == [("raise", "major", 70_000)]


def test_inactivity_uses_the_callers_last_activity_and_samples() -> None:
    rule = make_rule(("warning", {"type": "inactive", "timeout_s": 600}))
    ctx = EvalContext(last_activity_ms=1_000 * S)
    state, history = tick(rule, RuleState(), 1_000 * S, ctx)
    assert summary(history) == []
    state, history = tick(rule, state, 2_000 * S, ctx)
    assert summary(history) == [("raise", "warning", 1_600_000)]
    _, history = evaluate(rule, state, series("t", (2_100, 1.0)), 2_100 * S, ctx)
    assert summary(history) == [("clear", "warning", 2_100_000)]


def test_attribute_thresholds_read_the_context() -> None:
    rule = make_rule(("minor", cmp("mode", "==", 2, source="attribute")))
    _, history = tick(rule, RuleState(), 0, EvalContext(attributes={"mode": 1}))
    assert history == []
    _, history = tick(rule, RuleState(), 0, EvalContext(attributes={"mode": 2}))
    assert summary(history) == [("raise", "minor", 0)]


# --- trees -----------------------------------------------------------------------------------------


def test_top_level_or_across_keys() -> None:
    rule = make_rule(("critical", {"type": "or", "children": [cmp("t", ">", 95), cmp("p", ">", 9.5)]}))
    _, history = feed(rule, [(0, "t", 60), (0, "p", 9.6), (5, "p", 9.0)])
    assert history == [("raise", "critical", 0), ("clear", "critical", 5)]


def test_and_across_keys_uses_the_latest_value_of_each() -> None:
    rule = make_rule(("major", {"type": "and", "children": [cmp("t", ">", 80), cmp("p", "<", 2)]}))
    samples = [(0, "t", 85), (1000, "p", 3), (2000, "p", 1.5), (3000, "t", 70)]
    _, history = feed(rule, samples)
    assert history == [("raise", "major", 2000), ("clear", "major", 3000)]


def test_not_inverts_and_a_missing_value_does_not_hold() -> None:
    rule = make_rule(("minor", {"type": "not", "child": cmp("running", "==", 1)}))
    # no value yet: the comparison does not hold, so NOT holds at the first evaluation
    _, history = tick(rule, RuleState(), 0)
    assert summary(history) == [("raise", "minor", 0)]
    _, history = feed(rule, series("running", (0, 1), (5, 0)))
    assert history == [("raise", "minor", 5000)]


# --- severities ------------------------------------------------------------------------------------

TWO_LEVELS = (("major", cmp("t", ">", 80)), ("critical", cmp("t", ">", 95)))


def test_one_alarm_escalates_and_deescalates_then_clears() -> None:
    rule = make_rule(*TWO_LEVELS)
    _, history = feed(rule, series("t", (0, 85), (1, 96), (2, 90), (3, 70)))
    assert history == [
        ("raise", "major", 0),
        ("escalate", "critical", 1000),
        ("deescalate", "major", 2000),
        ("clear", "major", 3000),
    ]


def test_the_highest_satisfied_severity_wins_at_raise() -> None:
    _, history = feed(make_rule(*TWO_LEVELS), series("t", (0, 99)))
    assert history == [("raise", "critical", 0)]


def test_deescalation_respects_the_deadband_of_the_higher_level() -> None:
    rule = make_rule(*TWO_LEVELS, clear={"deadband": 3})
    _, history = feed(rule, series("t", (0, 96), (1, 93), (2, 92), (3, 78), (4, 77)))
    assert history == [("raise", "critical", 0), ("deescalate", "major", 2000), ("clear", "major", 4000)]


def test_escalation_over_time_with_a_duration_level() -> None:
    rule = make_rule(("warning", cmp("t", ">", 80)), ("major", _above_for(600)))
    _, history = feed(rule, series("t", (0, 85)), now_ms=3600 * S)
    assert history == [("raise", "warning", 0), ("escalate", "major", 600_000)]


def test_a_new_occurrence_after_clear_raises_again() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)))
    _, history = feed(rule, series("t", (0, 85), (1, 70), (2, 86)))
    assert [kind for kind, _, _ in history] == ["raise", "clear", "raise"]


def test_transitions_carry_latching_and_the_values_that_caused_them() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)), latching=True)
    _, transitions = evaluate(rule, RuleState(), [(0, "t", 85), (0, "other", 1)], 0)
    assert transitions[0].latching and transitions[0].values == (("t", 85.0),)


def test_release_after_a_manual_clear_lets_a_present_condition_raise_a_new_alarm() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)))
    state, _ = feed(rule, series("t", (0, 85)))
    _, history = feed(rule, [], now_ms=5 * S, state=release_alarm(state))
    assert history == [("raise", "major", 5000)]


# --- time and state --------------------------------------------------------------------------------


def test_late_samples_do_not_rewrite_decisions() -> None:
    rule = make_rule(("major", cmp("t", ">", 80)))
    state, _ = feed(rule, series("t", (10, 70)))
    state, history = feed(rule, series("t", (5, 99)), now_ms=10 * S, state=state)
    assert history == []
    assert state.latest["t"] == (10_000, 70.0)


def test_windows_keep_only_what_they_need() -> None:
    count = {"type": "count", "count": 1000, "window_s": 60, "condition": cmp("t", ">", 0)}
    rule = make_rule(("minor", count))
    state, _ = feed(rule, [(i * 1000, "t", 1.0) for i in range(600)])
    assert len(next(iter(state.count_ts_ms.values()))) == 60  # (t - 60 s, t] at 1 Hz
    assert set(state.latest) == {"t"}


def test_an_edited_rule_keeps_the_open_alarm_but_restarts_timers() -> None:
    old = make_rule(("major", _above_for(300)))
    state, history = feed(old, series("t", (0, 85)), now_ms=400 * S)
    assert history == [("raise", "major", 300_000)]
    new = make_rule(("major", _above_for(600)))
    state, history = feed(new, series("t", (410, 86)), state=state)
    assert history == []  # no duplicate raise for the alarm already open
    _, history = feed(new, series("t", (420, 70)), state=state)
    assert history == [("clear", "major", 420_000)]


def test_restart_mid_duration_raises_at_the_same_instant() -> None:
    rule = make_rule(("major", _above_for(300)), ("critical", cmp("t", ">", 99)), on_delay_s=5)
    samples = series("t", (0, 85), (60, 88), (120, 90))
    uninterrupted, expected = feed(rule, samples, now_ms=150 * S)
    uninterrupted, more = feed(rule, [], now_ms=500 * S, state=uninterrupted)
    expected += more

    state, history = feed(rule, samples, now_ms=150 * S)
    stored = json.dumps(state.to_dict())  # the process stops here and the state sits in the database
    restored = RuleState.from_dict(json.loads(stored))
    restored, more = feed(rule, [], now_ms=500 * S, state=restored)
    assert history + more == expected == [("raise", "major", 305_000)]
    assert restored.to_dict() == uninterrupted.to_dict()


MIXED = make_rule(
    ("warning", _above_for(60)),
    ("minor", {"type": "count", "count": 3, "window_s": 120, "condition": cmp("t", ">", 70)}),
    (
        "major",
        {
            "type": "or",
            "children": [
                {"type": "rate", "key": "p", "op": ">", "value": 30, "per": "min", "window_s": 60},
                {"type": "no_data", "key": "p", "timeout_s": 200},
            ],
        },
    ),
    ("critical", {"type": "and", "children": [cmp("t", ">", 90), cmp("p", ">", 90)]}),
    on_delay_s=10,
    off_delay_s=20,
    clear={"deadband": 5},
)


@st.composite
def _sample_runs(draw: st.DrawFn) -> tuple[list[RawSample], int, int, int]:
    gaps = draw(st.lists(st.integers(1, 90_000), min_size=2, max_size=40))
    samples: list[RawSample] = []
    ts = 0
    for gap in gaps:
        ts += gap
        samples.append((ts, draw(st.sampled_from(["t", "p"])), float(draw(st.integers(0, 100)))))
    split = draw(st.integers(1, len(samples) - 1))
    now_first = draw(st.integers(samples[split - 1][0], samples[split][0] - 1))
    now_last = ts + draw(st.integers(0, 600_000))
    return samples, split, now_first, now_last


@settings(max_examples=200, deadline=None)
@given(_sample_runs())
def test_split_batches_end_in_the_same_state_as_one_batch(run: tuple[list[RawSample], int, int, int]) -> None:
    samples, split, now_first, now_last = run
    whole, whole_transitions = evaluate(MIXED, RuleState(), samples, now_last)
    first, first_transitions = evaluate(MIXED, RuleState(), samples[:split], now_first)
    first = RuleState.from_dict(json.loads(json.dumps(first.to_dict())))  # and a restart in between
    second, second_transitions = evaluate(MIXED, first, samples[split:], now_last)
    assert summary(first_transitions + second_transitions) == summary(whole_transitions)
    assert second.to_dict() == whole.to_dict()
