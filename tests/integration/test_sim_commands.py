"""The simulated compressor and robot answer real commands sent through the platform, and their behaviour
changes: a new set-point moves the pressure band, a confirmed stop stops the compressor, a health check runs
the fixed trajectory and reports its figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.stack_fixtures import Stack

from openiiot.bootstrap import Platform, build_platform
from openiiot.cli import demo_catalog as catalog
from openiiot.domain.model import Principal, Role
from openiiot.sim.fleet import SimulatedDevice
from openiiot.sim.publisher import SimRunner

pytestmark = pytest.mark.integration
ADMIN = Principal(user_id="root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None)


@pytest.fixture
def plant(tmp_path: Path, stack: Stack) -> Iterator[tuple[Platform, dict[str, str], Principal, Principal]]:
    settings = stack.platform_settings(tmp_path)
    platform = build_platform(settings)
    platform.start()
    svc = platform.services
    tenant = svc.tenants.create(ADMIN, {"name": "Acme Air", "timezone": "Asia/Shanghai"})
    profiles = {
        model: svc.profiles.create(ADMIN, catalog.PROFILES[model], tenant_id=tenant.id).id
        for model in ("compressor", "flow_meter", "pressure_sensor", "robot_joint")
    }
    sim_devices, ids = [], {}
    for name, model in (
        ("C1", "compressor"),
        ("F1", "flow_meter"),
        ("P1", "pressure_sensor"),
        ("J1", "robot_joint"),
    ):
        made = svc.devices.create(ADMIN, {"name": name, "profile_id": profiles[model]}, tenant_id=tenant.id)
        sim_devices.append(
            SimulatedDevice(
                made.device.id, made.access_token, model, "station-1" if model != "robot_joint" else None
            )
        )
        ids[name] = made.device.id
    runner = SimRunner(sim_devices, "127.0.0.1", settings.mqtt_port, rate_hz=5.0, seed=7)
    runner.start()
    operator = Principal(user_id="u-op", username="li.op", role=Role.OPERATOR, tenant_id=tenant.id)
    supervisor = Principal(user_id="u-sup", username="wang.sup", role=Role.OPERATOR, tenant_id=tenant.id)
    try:
        deadline = time.monotonic() + 15
        while not all(platform.connectivity.is_connected(d) for d in ids.values()):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the simulator's devices did not connect"
            time.sleep(0.05)
        yield platform, ids, operator, supervisor
    finally:
        runner.stop()
        platform.stop()


def until(platform: Platform, who: Principal, command_id: str, timeout_s: float = 10) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        command = platform.services.commands.get(who, command_id)
        if command.state.final:
            return command
        time.sleep(0.05)
    raise AssertionError(f"command {command_id} did not finish: {command.state}")


def latest(platform: Platform, who: Principal, device_id: str, key: str) -> float | None:
    """The key's newest value, None until the device has sent it (a loaded machine may be slow to)."""
    values = platform.services.telemetry.latest(who, device_id, [key])
    return float(values[key].value) if key in values else None


def test_a_set_point_moves_the_band_and_a_confirmed_stop_stops_the_compressor(plant: Any) -> None:
    platform, ids, operator, supervisor = plant
    commands = platform.services.commands
    set_point, _ = commands.request(operator, ids["C1"], "set_pressure_setpoint", {"setpoint_bar": 6.5})
    done = until(platform, operator, set_point.id)
    assert done.state.value == "SUCCEEDED", done.error
    assert done.result["load_bar"] < 6.5 < done.result["unload_bar"]
    assert abs((done.result["load_bar"] + done.result["unload_bar"]) / 2 - 6.5) < 1e-9

    stop, _ = commands.request(operator, ids["C1"], "stop")
    assert stop.state.value == "AWAITING_CONFIRMATION"
    commands.confirm(supervisor, stop.id)
    assert until(platform, operator, stop.id).state.value == "SUCCEEDED"
    deadline = time.monotonic() + 10
    while latest(platform, operator, ids["C1"], "state") != 0:  # 0 = off
        assert time.monotonic() < deadline, "the compressor kept running after the stop command"
        time.sleep(0.1)
    time.sleep(0.5)
    assert latest(platform, operator, ids["C1"], "power_kw") == 0


def test_a_health_check_runs_the_fixed_trajectory(plant: Any) -> None:
    platform, ids, operator, _supervisor = plant
    check, _ = platform.services.commands.request(operator, ids["J1"], "run_health_check")
    done = until(platform, operator, check.id, timeout_s=20)
    assert done.state.value == "SUCCEEDED", done.error
    assert done.result["peak_torque_nm"] > 0 and done.result["rms_current_a"] > 0
    again, _ = platform.services.commands.request(operator, ids["J1"], "run_health_check")
    # the same trajectory on the same joint gives the same figures: checks are comparable over time
    assert until(platform, operator, again.id, timeout_s=20).result == done.result
