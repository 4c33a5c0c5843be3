"""Robot joint model: motion cycle, torque and current, heating, vibration, cycles."""

from __future__ import annotations

import itertools
import math

import pytest

from openiiot.domain.errors import ValidationFailed
from openiiot.sim.robot import JointSpec, MotionSegment, RobotJoint, cycloidal_motion


def run(seed: int, steps: int = 120, spec: JointSpec | None = None) -> list[dict[str, float]]:
    joint = RobotJoint(spec or JointSpec(), seed)
    out = []
    for _ in range(steps):
        joint.advance(1.0)
        out.append(joint.telemetry())
    return out


def test_same_seed_gives_identical_series_and_another_seed_does_not() -> None:
    assert run(11) == run(11)
    assert run(11) != run(12)


def test_cycloidal_move_starts_and_ends_at_rest_and_covers_the_distance() -> None:
    delta = math.radians(90)
    start = cycloidal_motion(delta, 1.5, 0.0)
    end = cycloidal_motion(delta, 1.5, 1.5)
    assert start[0] == 0.0 and start[1] == 0.0
    assert end[0] == pytest.approx(delta)
    assert end[1] == pytest.approx(0.0, abs=1e-12)
    assert cycloidal_motion(delta, 1.5, 0.75)[1] == pytest.approx(2 * delta / 1.5)  # peak speed mid-move


def test_cycles_counter_counts_program_repetitions() -> None:
    program = (MotionSegment(60.0, 1.0, 0.5), MotionSegment(-60.0, 1.0, 0.5))
    joint = RobotJoint(JointSpec(dwell_jitter=0.0), seed=1, program=program)
    readings = []
    for _ in range(60):
        joint.advance(1.0)
        readings.append(joint.telemetry()["cycles"])
    assert readings[-1] == 20.0  # 3 s per cycle
    assert all(b >= a for a, b in itertools.pairwise(readings))
    # back where it started after whole cycles
    assert joint.telemetry()["angle_deg"] == pytest.approx(JointSpec().start_deg)


def test_torque_current_and_vibration_are_plausible_and_consistent() -> None:
    spec = JointSpec()
    readings = run(3, steps=600, spec=spec)
    torques = [r["torque_nm"] for r in readings]
    assert max(abs(t) for t in torques) < spec.rated_torque_nm * 1.2
    assert max(abs(t) for t in torques) > 100.0  # gravity alone is 300 N·m at horizontal
    for r in readings:
        expected_a = r["torque_nm"] / (spec.gear_ratio * spec.torque_constant_nm_a * spec.gear_efficiency)
        assert r["current_a"] == pytest.approx(expected_a, abs=0.01)
    moving = [r["vibration_mm_s"] for r in readings if abs(r["speed_deg_s"]) > 30]
    resting = [r["vibration_mm_s"] for r in readings if r["speed_deg_s"] == 0.0]
    assert moving and resting
    assert min(moving) > max(resting)
    assert max(moving) < 4.5  # ISO 10816 zone A/B for a healthy machine


def test_temperature_rises_with_work_above_ambient_and_stays_below_reducer_limit() -> None:
    spec = JointSpec(ambient_c=25.0)
    readings = run(5, steps=3600, spec=spec)
    assert readings[0]["temp_c"] < 26.0
    assert readings[-1]["temp_c"] > 28.0
    assert max(r["temp_c"] for r in readings) < 60.0  # Nabtesco surface temperature limit


def test_wear_raises_vibration() -> None:
    new = RobotJoint(JointSpec(wear=0.0), seed=1)
    worn = RobotJoint(JointSpec(wear=0.5), seed=1)
    assert worn.vibration_mm_s() > new.vibration_mm_s()


def test_cycle_load_torque_is_reported_after_a_cycle() -> None:
    readings = run(9, steps=60)
    assert readings[0]["load_torque_nm"] == 0.0 or readings[0]["cycles"] > 0
    assert 100.0 < readings[-1]["load_torque_nm"] < 600.0


def test_program_needs_positive_durations() -> None:
    with pytest.raises(ValidationFailed):
        RobotJoint(JointSpec(), seed=1, program=(MotionSegment(10.0, 0.0, 1.0),))
