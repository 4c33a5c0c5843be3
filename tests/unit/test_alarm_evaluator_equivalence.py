"""The compiled evaluator gives exactly the states and alarms of the reference (tree-walking) evaluator.

Random valid rules (every kind of condition, several severities, deadband or explicit clear, delays) meet
random sample histories (numbers, text, missing values, several keys, equal timestamps, late samples),
split into random batches with ticks, restarts and attribute changes in between; after every call the two
evaluators must agree on the transitions, the stored state and the next due instant.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit import alarm_reference_evaluator as reference

from openiiot.domain.alarms import (
    AlarmRule,
    EvalContext,
    RawSample,
    RuleState,
    advance,
    evaluate,
    next_due_ms,
    parse_rule,
    relevant_keys,
)
from openiiot.domain.alarms.baseline import WindowSums
from openiiot.domain.alarms.conditions import Deviation
from openiiot.domain.alarms.leaves import deviates, deviates_running

KEYS = ("a", "b")
SEVERITIES = ("warning", "minor", "major", "critical")


def _leaf(draw: st.DrawFn, *, telemetry_only: bool = False) -> dict[str, Any]:
    key = draw(st.sampled_from(KEYS))
    source = "telemetry" if telemetry_only else draw(st.sampled_from(["telemetry", "telemetry", "attribute"]))
    if draw(st.booleans()):
        lo = 5 * draw(st.integers(-2, 20))  # multiples of 5, as the sample values: boundaries are hit
        return {
            "type": "range",
            "key": key,
            "lo": lo,
            "hi": lo + 5 * draw(st.integers(0, 12)),
            "inside": draw(st.booleans()),
            "source": source,
        }
    if draw(st.integers(0, 5)) == 0:
        return {"type": "threshold", "key": key, "op": draw(st.sampled_from(["==", "!="])), "value": "on"}
    op = draw(st.sampled_from([">", ">=", "<", "<=", "==", "!="]))
    return {
        "type": "threshold",
        "key": key,
        "op": op,
        "value": 5 * draw(st.integers(0, 20)),
        "source": source,
    }


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kinds = ["leaf", "leaf", "count", "rate", "deviation", "no_data", "inactive"]
    if depth < 2:
        kinds += ["and", "or", "not", "duration"]
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return _leaf(draw)
    if kind in ("and", "or"):
        children = draw(st.lists(conditions(depth + 1), min_size=1, max_size=3))
        return {"type": kind, "children": children}
    if kind == "not":
        return {"type": "not", "child": draw(conditions(depth + 1))}
    if kind == "duration":
        return {
            "type": "duration",
            "condition": draw(conditions(depth + 1)),
            "duration_s": draw(st.integers(1, 90)),
        }
    if kind == "count":
        return {
            "type": "count",
            "condition": _leaf(draw, telemetry_only=True),
            "count": draw(st.integers(1, 4)),
            "window_s": draw(st.integers(1, 120)),
        }
    key = draw(st.sampled_from(KEYS))
    if kind == "rate":
        return {
            "type": "rate",
            "key": key,
            "op": draw(st.sampled_from([">", "<", ">="])),
            "value": draw(st.integers(-3, 3)),
            "per": draw(st.sampled_from(["s", "min"])),
            "window_s": draw(st.integers(1, 120)),
        }
    if kind == "deviation":
        spread = {"sigma": draw(st.sampled_from([0.5, 1, 1.5, 2]))} if draw(st.booleans()) else {}
        return {
            "type": "deviation",
            "key": key,
            "window_s": draw(st.integers(1, 300)),
            "min_samples": draw(st.integers(2, 5)),
            **(spread or {"abs": draw(st.integers(1, 30))}),
        }
    if kind == "no_data":
        return {"type": "no_data", "key": key, "timeout_s": draw(st.integers(1, 200))}
    return {"type": "inactive", "timeout_s": draw(st.integers(1, 200))}


@st.composite
def rules(draw: st.DrawFn) -> AlarmRule:
    severities = draw(st.lists(st.sampled_from(SEVERITIES), min_size=1, max_size=3, unique=True))
    clear: dict[str, Any] = {}
    choice = draw(st.integers(0, 2))
    if choice == 1:
        clear = {"deadband": draw(st.sampled_from([0.5, 2, 10]))}
    elif choice == 2:
        clear = {"condition": draw(conditions())}
    return parse_rule(
        {
            "id": "r",
            "name": "random rule",
            "alarm_type": "Random",
            "levels": [{"severity": s, "condition": draw(conditions())} for s in severities],
            "clear": clear,
            "on_delay_s": draw(st.sampled_from([0, 0, 5, 30])),
            "off_delay_s": draw(st.sampled_from([0, 0, 5, 30])),
            "latching": draw(st.booleans()),
        }
    )


Call = tuple[list[RawSample], int, EvalContext, bool]  # samples, now, context, restart before


@st.composite
def histories(draw: st.DrawFn) -> list[Call]:
    """Batches of samples (some late, some at equal instants) and ticks, with their `now`."""
    calls: list[Call] = []
    ts = 1_000_000
    attributes = {"a": 50.0, "b": 20.0}
    for _ in range(draw(st.integers(1, 8))):
        batch: list[RawSample] = []
        for _ in range(draw(st.integers(0, 25))):
            ts += draw(st.sampled_from([0, 1, 40, 500, 1_000, 5_000, 20_000, 70_000]))
            value: float | str | None = float(5 * draw(st.integers(-1, 21)))
            pick = draw(st.integers(0, 19))
            if pick == 0:
                value = "on"
            elif pick == 1:
                value = None
            elif pick == 2:
                value = draw(st.floats(-1e3, 1e3, allow_nan=False))
            late = draw(st.integers(0, 15)) == 0
            batch.append((ts - 30_000 if late else ts, draw(st.sampled_from(KEYS)), value))
        now = ts + draw(st.sampled_from([0, 0, 1, 3_000, 60_000, 400_000]))
        if draw(st.integers(0, 3)) == 0:
            attributes = {**attributes, draw(st.sampled_from(KEYS)): float(draw(st.integers(0, 100)))}
        activity = draw(st.sampled_from([None, ts - 2_000, ts, now]))
        calls.append((batch, now, EvalContext(dict(attributes), activity), draw(st.booleans())))
        ts = max(ts, now)
    return calls


def _restart(state: RuleState) -> RuleState:
    return RuleState.from_dict(json.loads(json.dumps(state.to_dict())))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules(), histories())
def test_the_compiled_evaluator_agrees_with_the_reference_at_every_call(
    rule: AlarmRule, calls: list[Call]
) -> None:
    fast, slow = RuleState(), RuleState()
    for samples, now, context, restart in calls:
        if restart:
            fast, slow = _restart(fast), _restart(slow)
        assert next_due_ms(rule, fast, context) == reference.next_due_ms(rule, slow, context)
        pure, pure_transitions = evaluate(rule, fast, samples, now, context)
        fast, fast_transitions = advance(rule, fast, samples, now, context)  # the engine's in-place way
        assert (pure.to_dict(), pure_transitions) == (fast.to_dict(), fast_transitions)
        slow, slow_transitions = reference.evaluate(rule, slow, samples, now, context)
        assert fast_transitions == slow_transitions
        assert fast.to_dict() == slow.to_dict()
    assert relevant_keys(rule) == reference.relevant_keys(rule)


def test_the_evaluator_leaves_its_input_state_as_it_was() -> None:
    rule = parse_rule(
        {
            "id": "r",
            "name": "drift",
            "alarm_type": "Drift",
            "levels": [
                {
                    "severity": "minor",
                    "condition": {
                        "type": "deviation",
                        "key": "a",
                        "window_s": 10,
                        "min_samples": 2,
                        "sigma": 1,
                    },
                }
            ],
        }
    )
    samples: list[RawSample] = [(i * 1000, "a", float(i % 7)) for i in range(30)]
    state, _ = evaluate(rule, RuleState(), samples[:20], 20_000)
    before = state.to_dict()
    evaluate(rule, state, samples[20:], 30_000)
    assert state.to_dict() == before


# --- the deviation's running sums -----------------------------------------------------------------


def _windows(seed: int) -> list[tuple[list[tuple[int, float]], float]]:
    """Windows of awkward values (wide magnitudes, repeats, near-constant) and a next value each."""
    rng = random.Random(seed)
    out = []
    for _ in range(300):
        n = rng.randint(2, 40)
        kind = rng.randint(0, 4)
        if kind == 0:
            values = [float(rng.randint(0, 5)) for _ in range(n)]
        elif kind == 1:
            values = [rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8) for _ in range(n)]
        elif kind == 2:
            base = rng.uniform(-100, 100)
            values = [base + rng.choice([0.0, 1e-12, -1e-12]) for _ in range(n)]
        elif kind == 3:
            values = [round(rng.uniform(0, 100), 3) for _ in range(n)]
        else:
            values = [rng.choice([0.1, 0.2, 0.3]) for _ in range(n)]
        window = [(i, v) for i, v in enumerate(values)]
        out.append((window, rng.choice(values) + rng.choice([0.0, 0.1, -3.0, 1e-9])))
    return out


def test_running_sums_give_the_verdict_of_the_full_computation_even_at_the_limit() -> None:
    for window, value in _windows(seed=4):
        values = [v for _, v in window]
        mean = math.fsum(values) / len(values)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
        deviation = abs(value - mean)
        # sigmas that put the limit exactly on, just below and just above the sample's deviation
        sigmas = [1.0, 2.0]
        if std > 0:
            exact = deviation / std
            sigmas += [exact, math.nextafter(exact, 0), math.nextafter(exact, math.inf)]
        for sigma in sigmas:
            node = Deviation("a", 600, 2, sigma=sigma)
            sums = WindowSums.of(window)
            assert deviates_running(node, window, sums, value) == deviates(node, window, value)
        for abs_dev in (deviation, math.nextafter(deviation, 0), 1.0):
            node = Deviation("a", 600, 2, abs_dev=abs_dev)
            assert deviates_running(node, window, WindowSums.of(window), value) == deviates(
                node, window, value
            )


def test_running_sums_follow_samples_entering_and_leaving_the_window() -> None:
    rng = random.Random(7)
    window: list[tuple[int, float]] = []
    sums = WindowSums()
    for ts in range(2_000):
        sample = (ts, rng.uniform(-50, 50) * 10 ** rng.randint(-3, 3))
        window.append(sample)
        sums.add(sample)
        sums.drop_before(window, ts - rng.randint(5, 60))
        fresh = WindowSums.of(window)
        assert (sums.n, sums.s1, sums.s2) == (fresh.n, fresh.s1, fresh.s2)
        assert sums.mean() == math.fsum(v for _, v in window) / len(window)
