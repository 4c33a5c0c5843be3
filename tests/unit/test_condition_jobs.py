"""The condition job turns stored waveform bursts into derived cm.* telemetry, alarms see them, and a
restarted job rebuilds its state from stored telemetry without rewriting what is already stored."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from tests.unit.management_fixtures import PLATFORM_ADMIN, build_harness, populate_tenant

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import AttributeScope
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.condition_jobs import ConditionConfig, ConditionJob
from openiiot.sim.reducer import AXES, REDUCERS, Fault, FaultKind, ReducerJoint, SiteSpec

HOUR = 3600.0
START_MS = 1_767_225_600_000
CONFIG = {"healthy_hours": 12, "bearing": "6205", "summary_keys": ["temp_rise_c", "current_rms_a"]}


def feed(store: Any, device_id: str, joint: ReducerJoint, until_s: float, step_s: float = 600.0) -> None:
    """What the simulator would publish: summary values every step, a burst with them."""
    batch = TelemetryBatch()
    while joint.elapsed_s < until_s:
        joint.fast_forward(step_s)
        ts = joint.ts_ms
        values: dict[str, Any] = {**joint.telemetry(), **joint.burst_values()}
        for key, value in values.items():
            if isinstance(value, str):
                batch.add(device_id, key, ts, None, value)
            else:
                batch.add(device_id, key, ts, float(value))
    store.append(batch)


def series(store: Any, device_id: str, key: str) -> list[tuple[int, float]]:
    page = store.raw(device_id, [key], 0, 2**62, limit=10_000)
    return [(p.ts_ms, p.value) for p in page.points]


def monitor(h: Any, device_id: str) -> None:
    h.services.attributes.set(
        PLATFORM_ADMIN, device_id, AttributeScope.SERVER, {"condition_monitoring": CONFIG}
    )


@pytest.fixture
def world() -> Any:
    h = build_harness()
    w = populate_tenant(h.services, "Acme")
    h.services.attributes.set(
        PLATFORM_ADMIN, w.device_id, AttributeScope.SERVER, {"condition_monitoring": CONFIG}
    )
    kind, spec = AXES[1]
    joint = ReducerJoint(
        spec,
        REDUCERS[kind],
        3,
        faults=(Fault(FaultKind.OUTER_RACE, 16 * HOUR, 40 * HOUR),),
        site=SiteSpec(shifts=3),
        start_ts_ms=START_MS,
    )
    return h, w.device_id, joint


def test_derived_keys_appear_and_the_anomaly_score_rises_after_the_fault_onset(world: Any) -> None:
    h, device_id, joint = world
    seen: list[TelemetryBatch] = []
    job = ConditionJob(h.uow, h.telemetry, h.clock, on_derived=seen.append)
    feed(h.telemetry, device_id, joint, 4 * HOUR)
    h.clock.now = joint.ts_ms + 1000
    assert job.run() > 0
    assert series(h.telemetry, device_id, "cm.velocity_rms")  # features already during the healthy window
    assert not series(h.telemetry, device_id, "cm.anomaly_score")  # not trained yet
    feed(h.telemetry, device_id, joint, 26 * HOUR)
    h.clock.now = joint.ts_ms + 1000
    job.run()
    scores = series(h.telemetry, device_id, "cm.anomaly_score")
    onset_ms = START_MS + 16 * HOUR * 1000
    before = [v for ts, v in scores if ts < onset_ms]
    after = [v for ts, v in scores if ts > onset_ms + 3 * HOUR * 1000]
    assert len(before) >= 10 and len(after) >= 10
    assert sum(v > 1 for v in before) <= 2  # inside a 1 % budget give or take the small sample
    assert all(v > 1 for v in after)
    hi = [v for _, v in series(h.telemetry, device_id, "cm.health_index")]
    assert hi[0] > 0.9 and hi[-1] < hi[0]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(hi))  # monotonic
    late = onset_ms + 7 * HOUR * 1000
    bpfo = [v for ts, v in series(h.telemetry, device_id, "cm.env_bpfo") if ts > late]
    bpfi = [v for ts, v in series(h.telemetry, device_id, "cm.env_bpfi") if ts > late]
    assert min(bpfo) > 3.0 and min(bpfo) > max(bpfi)  # the outer-race line stands out, not the inner
    # the alarm path got every new row, stamped with the job's clock 1 ms apart, newest = now
    assert seen and seen[-1].ts_ms[-1] == h.clock.now and "cm.anomaly_score" in seen[-1].key
    second_run = [ts for ts, _ in scores if ts >= START_MS + 4 * HOUR * 1000]
    assert seen[-1].key.count("cm.anomaly_score") == len(second_run)


def test_a_restarted_job_rebuilds_its_state_and_writes_only_new_points(world: Any) -> None:
    h, device_id, joint = world
    feed(h.telemetry, device_id, joint, 16 * HOUR)
    h.clock.now = joint.ts_ms + 1000
    ConditionJob(h.uow, h.telemetry, h.clock).run()
    stored = series(h.telemetry, device_id, "cm.health_index")
    feed(h.telemetry, device_id, joint, 26 * HOUR)
    h.clock.now = joint.ts_ms + 1000
    seen: list[TelemetryBatch] = []
    restarted = ConditionJob(h.uow, h.telemetry, h.clock, on_derived=seen.append)
    restarted.run()
    after = series(h.telemetry, device_id, "cm.health_index")
    assert after[: len(stored)] == stored
    assert len(after) == len(stored) + 60  # ten more hours of 10-minute bursts
    # the same as one job that never stopped
    h2, w2 = build_harness(), None
    w2 = populate_tenant(h2.services, "Acme")
    h2.services.attributes.set(
        PLATFORM_ADMIN, w2.device_id, AttributeScope.SERVER, {"condition_monitoring": CONFIG}
    )
    for p in h.telemetry.raw(
        device_id, ["vib_wave", "wave_rpm", "temp_rise_c", "current_rms_a"], 0, 2**62, limit=10_000
    ).points:
        b = TelemetryBatch()
        b.add(w2.device_id, p.key, p.ts_ms, p.value, p.text)
        h2.telemetry.append(b)
    h2.clock.now = h.clock.now
    ConditionJob(h2.uow, h2.telemetry, h2.clock).run()
    assert [v for _, v in series(h2.telemetry, w2.device_id, "cm.health_index")] == pytest.approx(
        [v for _, v in after]
    )


def test_invalid_configurations_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationFailed):
        ConditionConfig.from_json({"bearing": "9999"})
    with pytest.raises(ValidationFailed):
        ConditionConfig.from_json({"healthy_hours": 0})
    with pytest.raises(ValidationFailed):
        ConditionConfig.from_json({"colour": "red"})
    with pytest.raises(ValidationFailed):
        ConditionConfig.from_json({"failure_levels": {"electrical": 3}})
    cfg = ConditionConfig.from_json({"envelope_band": [2000, 3500], "failure_levels": {"thermal": 12}})
    assert cfg.band(8192) == (2000.0, 3500.0)
    assert cfg.monitor_settings().groups["thermal"][1] == 12.0


def test_the_failure_level_spread_reaches_the_monitor_and_bad_spreads_are_refused() -> None:
    cfg = ConditionConfig.from_json({"failure_spread_log": {"bearing": 0.32, "thermal": 0.6}})
    assert dict(cfg.monitor_settings().failure_spread_log) == {"bearing": 0.32, "thermal": 0.6}
    assert dict(ConditionConfig.from_json({}).monitor_settings().failure_spread_log) == {}
    for bad in ({"electrical": 0.3}, {"bearing": -0.1}, {"bearing": "wide"}):
        with pytest.raises(ValidationFailed):
            ConditionConfig.from_json({"failure_spread_log": bad})
