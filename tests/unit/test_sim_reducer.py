"""Reducer fleet simulator: fault physics at the right defect frequencies, and exact ground truth."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from openiiot.analytics.condition.bearing import BEARINGS, defect_frequencies, match_defect_peaks
from openiiot.analytics.condition.features import envelope_spectrum, time_features, velocity_rms
from openiiot.analytics.condition.waveform import decode_waveform, encode_waveform
from openiiot.domain.errors import ValidationFailed
from openiiot.sim.fleet import ROBOT_REDUCER, ReducerRobotGroup, SimulatedDevice, build_groups
from openiiot.sim.publisher import telemetry_payload
from openiiot.sim.reducer import (
    AXES,
    REDUCERS,
    WAVE_FS_HZ,
    Fault,
    FaultKind,
    ReducerJoint,
    ReducerKind,
    Severities,
    SiteSpec,
    plan_fleet,
    synth_waveform,
)

DAY = 86400.0


def joint(faults: tuple[Fault, ...] = (), axis: int = 2, seed: int = 5) -> ReducerJoint:
    kind, spec = AXES[axis - 1]
    return ReducerJoint(spec, REDUCERS[kind], seed, faults=faults, start_ts_ms=1_700_000_000_000)


def test_fault_severity_is_zero_before_onset_grows_monotonically_and_is_one_at_failure() -> None:
    f = Fault(FaultKind.WEAR, onset_s=100.0, failure_s=1100.0)
    assert f.severity(0.0) == 0.0 and f.severity(100.0) == 0.0
    values = [f.severity(t) for t in np.linspace(100, 1100, 50)]
    assert all(b > a for a, b in itertools.pairwise(values))
    assert f.severity(1100.0) == pytest.approx(1.0) and f.severity(5000.0) == 1.0
    assert f.severity(600.0) < 0.5  # exponential growth: slow start, fast end
    with pytest.raises(ValidationFailed):
        Fault(FaultKind.WEAR, onset_s=10.0, failure_s=10.0)


@pytest.mark.parametrize("kind,name", [(ReducerKind.RV, "BPFO"), (ReducerKind.HARMONIC, "BPFI")])
def test_bearing_defect_shows_in_the_envelope_at_its_defect_frequency(kind: ReducerKind, name: str) -> None:
    reducer = REDUCERS[kind]
    rpm = 2400.0
    field = "outer_race" if name == "BPFO" else "inner_race"
    x = synth_waveform(reducer, rpm, Severities(**{field: 0.2}), np.random.default_rng(3))
    expected = defect_frequencies(BEARINGS[reducer.bearing], rpm).as_dict()
    f, a, _ = envelope_spectrum(x, WAVE_FS_HZ, max_freq=1200)
    best = match_defect_peaks(f, a, {k: expected[k] for k in ("BPFO", "BPFI")})[0]
    assert best.name == name and best.detected
    assert best.found_hz == pytest.approx(expected[name], rel=0.03)
    healthy = synth_waveform(reducer, rpm, Severities(), np.random.default_rng(3))
    assert time_features(healthy).kurtosis == pytest.approx(3.0, abs=0.4)  # Gaussian-like when healthy
    assert time_features(x).kurtosis > 5.0  # impacts make the waveform impulsive


def test_wear_raises_friction_current_backlash_and_vibration() -> None:
    new, worn = joint(), joint((Fault(FaultKind.WEAR, 0.0, 10.0),))
    worn.elapsed_s = 10.0
    assert worn.severities().friction == pytest.approx(3.0)
    # gravity dominates the current of a main axis: friction shows as a few per cent of RMS current
    assert worn.cycle().rms_current_a > 1.02 * new.cycle().rms_current_a
    assert worn.backlash_arcmin() == pytest.approx(new.backlash_arcmin() + 5.0)
    rng = np.random.default_rng
    v_new = velocity_rms(synth_waveform(new.reducer, 2400, new.severities(), rng(1)), WAVE_FS_HZ)
    v_worn = velocity_rms(synth_waveform(worn.reducer, 2400, worn.severities(), rng(1)), WAVE_FS_HZ)
    assert v_worn > 1.5 * v_new


def test_lubrication_loss_raises_temperature_on_the_same_duty() -> None:
    site = SiteSpec(ambient_swing_c=0.0, shifts=3)
    kind, spec = AXES[1]
    ok = ReducerJoint(spec, REDUCERS[kind], 1, site=site)
    dry = ReducerJoint(spec, REDUCERS[kind], 1, site=site, faults=(Fault(FaultKind.LUBRICATION, 0.0, 1.0),))
    for j in (ok, dry):
        for _ in range(24):
            j.fast_forward(600.0)
    rise_ok, rise_dry = ok.temp_c - site.ambient_mean_c, dry.temp_c - site.ambient_mean_c
    assert rise_ok > 2.0
    assert rise_dry > 2.5 * rise_ok


def test_temperature_follows_load_and_ambient_and_cools_when_stopped() -> None:
    site = SiteSpec(ambient_mean_c=20.0, ambient_swing_c=5.0, shifts=3, utc_offset_h=0.0)
    kind, spec = AXES[1]
    j = ReducerJoint(spec, REDUCERS[kind], 1, site=site, start_ts_ms=0)
    temps = []
    for _ in range(48):  # two days in 1-hour jumps
        j.fast_forward(3600.0)
        temps.append(j.temp_c - site.ambient_c(j.ts_ms))
    assert min(temps[6:]) > 3.0  # working: above ambient
    for _ in range(12):
        j.fast_forward(3600.0, running=False)
    assert abs(j.temp_c - site.ambient_c(j.ts_ms)) < 1.0


def test_fine_and_fast_simulation_agree_on_bursts_and_slow_values() -> None:
    fault = (Fault(FaultKind.OUTER_RACE, 30.0, 300.0),)
    a, b = joint(fault), joint(fault)
    for _ in range(200):
        a.advance(1.0)
    b.fast_forward(200.0)
    wa, ra = a.burst()
    wb, rb = b.burst()
    assert ra == rb and np.array_equal(wa, wb)
    assert a.cycle() == b.cycle()


def test_waveform_text_round_trips_within_quantisation() -> None:
    x = synth_waveform(REDUCERS[ReducerKind.RV], 2000, Severities(outer_race=0.5), np.random.default_rng(0))
    text = encode_waveform(x, WAVE_FS_HZ)
    y, fs = decode_waveform(text)
    assert fs == WAVE_FS_HZ and y.size == x.size
    assert np.max(np.abs(y - x)) <= np.max(np.abs(x)) / 32767
    assert len(text) < 6000
    with pytest.raises(ValueError):
        decode_waveform("f32;fs=1;scale=1;AAAA")


def test_fleet_plan_is_seeded_and_its_ground_truth_is_exact() -> None:
    a = plan_fleet(5, 4, seed=42, start_ts_ms=1_700_000_000_000, horizon_s=60 * DAY)
    b = plan_fleet(5, 4, seed=42, start_ts_ms=1_700_000_000_000, horizon_s=60 * DAY)
    assert a.truth() == b.truth()
    assert a.truth() != plan_fleet(5, 4, seed=43, start_ts_ms=1_700_000_000_000).truth()
    assert len(a.joints) == 5 * 4 * 6
    assert len({j.site.name for j in a.joints}) == 5
    faulty = [j for j in a.joints if j.faults]
    assert 0.15 < len(faulty) / len(a.joints) < 0.45
    for t in a.truth():
        for f in t["faults"]:
            assert 0 < f["onset_s"] < f["failure_s"] <= 60 * DAY
            assert f["failure_ts_ms"] == 1_700_000_000_000 + round(f["failure_s"] * 1000)
    plan = faulty[0]
    sim = a.build(plan)
    fault = plan.faults[0]
    sim.fast_forward(fault.onset_s - 1.0)
    assert max(vars_of(sim.severities())) == 0.0
    sim.fast_forward(fault.failure_s - sim.elapsed_s)
    assert max(vars_of(sim.severities())) == pytest.approx(1.0)


def vars_of(s: Severities) -> list[float]:
    return [s.outer_race, s.inner_race, s.wear, s.lubrication]


def test_robot_group_sends_bursts_on_schedule_and_accepts_injected_faults() -> None:
    devices = [SimulatedDevice(f"r1-j{i}", "t", ROBOT_REDUCER, group="r1") for i in range(1, 4)]
    groups = build_groups(devices, seed=1, start_ts_ms=0, wave_every_s=10.0)
    assert len(groups) == 1 and isinstance(groups[0], ReducerRobotGroup)
    robot = groups[0]
    bursts = 0
    for tick in range(31):
        if tick:
            robot.advance(1.0)
        readings = robot.readings()
        for _, values in readings:  # what the publisher sends must be plain JSON
            assert telemetry_payload(0, values)
        assert [d.device_id for d, _ in readings] == ["r1-j1", "r1-j2", "r1-j3"]
        if "vib_wave" in readings[0][1]:
            bursts += 1
            wave, fs = decode_waveform(readings[0][1]["vib_wave"])
            assert fs == WAVE_FS_HZ and wave.size == 2048 and readings[0][1]["wave_rpm"] > 100
    assert bursts == 4  # at 0, 10, 20, 30 s
    answer = robot.command("r1-j2", "inject_fault", {"kind": "outer_race", "failure_in_s": 100})
    assert answer["failure_s"] == pytest.approx(130.0)
    before = robot.command("r1-j2", "run_health_check")
    for _ in range(60):
        robot.advance(1.0)
    after = robot.command("r1-j2", "run_health_check")
    assert after["kurtosis"] > before["kurtosis"] + 1.0
    assert set(before) >= {"peak_torque_nm", "rms_current_a", "backlash_arcmin", "velocity_rms_mm_s"}
    with pytest.raises(ValidationFailed):
        robot.command("r1-j2", "inject_fault", {"kind": "rust"})


def test_same_seed_same_readings() -> None:
    def series(seed: int) -> list[dict[str, float]]:
        j = joint(seed=seed)
        out = []
        for _ in range(30):
            j.advance(1.0)
            out.append(j.telemetry())
        return out

    assert series(3) == series(3) and series(3) != series(4)
    assert all(math.isfinite(v) for r in series(3) for v in r.values())
