"""The energy station speaks the device API: its compressors and header publish over MQTT into the embedded
platform, and commands sent through the platform change the simulated station (load loads a compressor
under cascade control, a confirmed stop stops it, the header switches to the sequencer and moves its
target)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.stack_fixtures import Stack
from tests.polling import wait_for

from openiiot.bootstrap import Platform, build_platform
from openiiot.domain.model import Principal, Role
from openiiot.sim.air_station import ControlMode, FixedSpec, StationConfig, VsdSpec
from openiiot.sim.fleet import SimulatedDevice
from openiiot.sim.publisher import SimRunner
from openiiot.sim.station_devices import PROFILES, AirStationGroup

pytestmark = pytest.mark.integration
ADMIN = Principal(user_id="root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None)
SMALL = StationConfig(
    fixed=(FixedSpec(name="C1"), FixedSpec(name="C2", load_bar=6.8, unload_bar=7.4)),
    vsd=VsdSpec(name="V1", setpoint_bar=6.6),
    mode=ControlMode.CASCADE,
)


@pytest.fixture
def plant(
    tmp_path: Path, stack: Stack
) -> Iterator[tuple[Platform, dict[str, str], Principal, Principal, AirStationGroup]]:
    settings = stack.platform_settings(tmp_path)
    platform = build_platform(settings)
    platform.start()
    svc = platform.services
    tenant = svc.tenants.create(ADMIN, {"name": "Acme Air", "timezone": "Asia/Shanghai"})
    profiles = {
        name: svc.profiles.create(ADMIN, profile, tenant_id=tenant.id).id
        for name, profile in PROFILES.items()
    }
    sim_devices, ids = [], {}
    for name, model, profile in (
        ("C1", "compressor", "energy_compressor"),
        ("C2", "compressor", "energy_compressor"),
        ("V1", "compressor", "energy_compressor"),
        ("H1", "station_header", "station_header"),
    ):
        made = svc.devices.create(ADMIN, {"name": name, "profile_id": profiles[profile]}, tenant_id=tenant.id)
        sim_devices.append(SimulatedDevice(made.device.id, made.access_token, model))
        ids[name] = made.device.id
    group = AirStationGroup(sim_devices, seed=5, start_ts_ms=int(time.time() * 1000), config=SMALL)
    runner = SimRunner(sim_devices, "127.0.0.1", settings.mqtt_port, rate_hz=5.0, groups=[group])
    runner.start()
    operator = Principal(user_id="u-op", username="li.op", role=Role.OPERATOR, tenant_id=tenant.id)
    supervisor = Principal(user_id="u-sup", username="wang.sup", role=Role.OPERATOR, tenant_id=tenant.id)
    try:
        connectivity = platform.connectivity
        assert connectivity is not None
        wait_for(
            lambda: all(connectivity.is_connected(d) for d in ids.values()),
            15,
            "the station's devices to connect",
        )
        yield platform, ids, operator, supervisor, group
    finally:
        runner.stop()
        platform.stop()


def until(platform: Platform, who: Principal, command_id: str, timeout_s: float = 10) -> Any:
    """The command once it has reached a final state."""

    def finished() -> Any:
        command = platform.services.commands.get(who, command_id)
        return command if command.state.final else None

    return wait_for(finished, timeout_s, f"command {command_id} to finish")


def reported(platform: Platform, who: Principal, device_id: str, key: str, wanted: float) -> None:
    """Wait until the device's latest `key` is `wanted`."""

    def has_it() -> bool:
        values = platform.services.telemetry.latest(who, device_id, [key])
        return key in values and float(values[key].value) == wanted

    wait_for(has_it, 10, f"{key} to become {wanted}")


def test_station_devices_publish_and_obey_commands(plant: Any) -> None:
    platform, ids, operator, supervisor, group = plant
    commands = platform.services.commands
    # every device publishes what its profile declares
    for name in ("C1", "V1", "H1"):
        key = "pressure_bar" if name == "H1" else "power_kw"
        wait_for(
            lambda n=name, k=key: k in platform.services.telemetry.latest(operator, ids[n], [k]),
            10,
            f"{name} to publish {key}",
        )

    load, _ = commands.request(operator, ids["C1"], "load")
    done = until(platform, operator, load.id)
    assert done.state.value == "SUCCEEDED", done.error
    assert done.result["state"] == 2
    reported(platform, operator, ids["C1"], "state", 2)

    stop, _ = commands.request(operator, ids["C1"], "stop")
    assert stop.state.value == "AWAITING_CONFIRMATION"
    commands.confirm(supervisor, stop.id)
    assert until(platform, operator, stop.id).state.value == "SUCCEEDED"
    reported(platform, operator, ids["C1"], "state", 0)
    reported(platform, operator, ids["C1"], "power_kw", 0)

    mode, _ = commands.request(operator, ids["H1"], "set_control_mode", {"mode": "sequencer"})
    assert until(platform, operator, mode.id).result["mode"] == "sequencer"
    reported(platform, operator, ids["H1"], "control_mode", 1)
    target, _ = commands.request(operator, ids["H1"], "set_pressure_setpoint", {"setpoint_bar": 6.2})
    done = until(platform, operator, target.id)
    assert done.state.value == "SUCCEEDED", done.error
    assert done.result == {"mode": "sequencer", "setpoint_bar": 6.2}
    reported(platform, operator, ids["H1"], "setpoint_bar", 6.2)
    assert group.station.target_bar == 6.2

    # the platform checks parameters against the profile before anything reaches the station
    from openiiot.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        commands.request(operator, ids["H1"], "set_control_mode", {"mode": "manual"})
