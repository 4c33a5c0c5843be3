"""Condition monitoring through the real embedded platform: a simulated robot publishes over MQTT, one reducer
has an outer-race defect; the condition job derives cm.* telemetry from its waveform bursts and an ordinary
alarm rule on cm.anomaly_score raises an alarm, while the healthy, unmonitored joint gets nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.stack_fixtures import Stack

from openiiot.bootstrap import Platform, build_platform
from openiiot.domain.model import AttributeScope, Principal, Role
from openiiot.sim.fleet import ROBOT_REDUCER, SimulatedDevice
from openiiot.sim.publisher import SimRunner
from openiiot.sim.reducer import Fault, FaultKind

pytestmark = pytest.mark.integration
ADMIN = Principal(user_id="root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None)
TICKS = 420  # simulated seconds, one tick each; bursts every 2 s


@pytest.fixture
def plant(tmp_path: Path, stack: Stack) -> Iterator[tuple[Platform, dict[str, str], str, SimRunner]]:
    settings = stack.platform_settings(tmp_path, condition_interval_s=0.5)
    platform = build_platform(settings)
    platform.start()
    svc = platform.services
    tenant = svc.tenants.create(ADMIN, {"name": "Reducer Works", "timezone": "Asia/Shanghai"})
    profile = svc.profiles.create(
        ADMIN,
        {"name": "robot reducer", "methods": [{"name": "run_health_check"}, {"name": "inject_fault"}]},
        tenant_id=tenant.id,
    )
    svc.alarms.create_rule(
        ADMIN,
        profile.id,
        {
            "name": "Reducer anomaly",
            "alarm_type": "Reducer anomaly",
            "levels": [
                {
                    "severity": "warning",
                    "condition": {
                        "type": "count",
                        "condition": {"type": "threshold", "key": "cm.anomaly_score", "op": ">", "value": 1},
                        "count": 3,
                        "window_s": 600,
                    },
                }
            ],
        },
        tenant_id=tenant.id,
    )
    ids: dict[str, str] = {}
    sim_devices = []
    for name in ("R1-J1", "R1-J2"):
        made = svc.devices.create(ADMIN, {"name": name, "profile_id": profile.id}, tenant_id=tenant.id)
        ids[name] = made.device.id
        sim_devices.append(SimulatedDevice(made.device.id, made.access_token, ROBOT_REDUCER, group="R1"))
    # axis 2 is an RV reducer whose input bearing is a 6205; healthy for its first 100 simulated seconds
    svc.attributes.set(
        ADMIN,
        ids["R1-J2"],
        AttributeScope.SERVER,
        {"condition_monitoring": {"healthy_hours": 100 / 3600, "bearing": "6205"}},
    )
    start_ms = int(time.time() * 1000) - (TICKS + 60) * 1000
    runner = SimRunner(
        sim_devices,
        "127.0.0.1",
        settings.mqtt_port,
        rate_hz=1.0,
        seed=3,
        realtime=False,
        start_ts_ms=start_ms,
        max_ticks=TICKS,
        faults={ids["R1-J2"]: (Fault(FaultKind.OUTER_RACE, onset_s=150.0, failure_s=600.0),)},
        wave_every_s=2.0,
    )
    runner.start()
    try:
        yield platform, ids, tenant.id, runner
    finally:
        runner.stop()
        platform.stop()


def test_an_outer_race_defect_raises_an_alarm_on_the_derived_anomaly_score(plant: Any) -> None:
    platform, ids, tenant_id, runner = plant
    operator = Principal(user_id="u-op", username="li.op", role=Role.OPERATOR, tenant_id=tenant_id)
    deadline = time.monotonic() + 120
    alarms: list[Any] = []
    while time.monotonic() < deadline:
        alarms = platform.services.alarms.list_alarms(operator, device_id=ids["R1-J2"])
        if alarms:
            break
        time.sleep(0.2)
    scores = platform.telemetry.raw(ids["R1-J2"], ["cm.anomaly_score"], 0, 2**62, limit=1000).points
    assert alarms, f"no alarm; anomaly scores {[round(p.value, 2) for p in scores]}"
    assert alarms[0].alarm_type == "Reducer anomaly"
    assert runner.wait(60)
    time.sleep(1.5)  # one more run of the job after the last burst
    keys = ["cm.velocity_rms", "cm.kurtosis", "cm.env_bpfo", "cm.anomaly_score", "cm.health_index"]
    latest = platform.services.telemetry.latest(operator, ids["R1-J2"], keys)
    assert set(latest) == set(keys)
    assert latest["cm.env_bpfo"].value > 3.0  # the outer-race defect frequency stands out
    assert latest["cm.health_index"].value < 1.0
    # the derived series is stored at the bursts' instants and can be queried like any telemetry
    store = platform.telemetry
    scores = store.raw(ids["R1-J2"], ["cm.anomaly_score"], 0, 2**62, limit=1000).points
    waves = store.raw(ids["R1-J2"], ["vib_wave"], 0, 2**62, limit=1000).points
    assert {p.ts_ms for p in scores} <= {p.ts_ms for p in waves}
    assert len(scores) > 100
    # the healthy joint is not monitored: no derived keys, no alarm
    assert not platform.services.telemetry.latest(operator, ids["R1-J1"], keys)
    assert not platform.services.alarms.list_alarms(operator, device_id=ids["R1-J1"])
