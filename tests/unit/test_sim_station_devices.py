"""The energy station's devices: what each reports, command routing, the device list it needs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.sim.fleet import SimulatedDevice
from openiiot.sim.station_devices import PROFILES, AirStationGroup

START = int(datetime(2025, 1, 8, 10, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
NAMES = ["C1", "C2", "C3", "C4", "C5", "V1"]


def devices() -> list[SimulatedDevice]:
    out = [SimulatedDevice(f"dev-{n}", "t", "compressor") for n in NAMES]
    return [*out, SimulatedDevice("dev-H", "t", "station_header")]


def test_every_reading_is_declared_by_its_profile_and_temperatures_follow_the_load() -> None:
    group = AirStationGroup(devices(), seed=3, start_ts_ms=START)
    declared = {name: {k["key"] for k in p["keys"]} for name, p in PROFILES.items()}
    group.station.command("C1", "load")
    for _ in range(1200):
        group.advance(1.0)
        group.station.command("C1", "load")  # held loaded by hand
    for device, values in group.readings():
        profile = "station_header" if device.model == "station_header" else "energy_compressor"
        assert set(values) <= declared[profile], set(values) - declared[profile]
        assert all(isinstance(v, float) for v in values.values())
    c1 = dict(group.readings())[devices()[0]]
    # January: 85 °C loaded at 20 °C ambient, half a degree less per degree colder
    header = dict(group.readings())[devices()[-1]]
    assert c1["state"] == 2 and 70.0 < c1["discharge_temp_c"] < 90.0
    assert c1["motor_temp_c"] > header["ambient_c"] + 25.0  # 20 min of a 15 min lag towards +55 K
    assert 5.5 < header["pressure_bar"] < 8.0 and header["power_kw"] > 0


def test_commands_reach_the_unit_or_the_station_controller() -> None:
    group = AirStationGroup(devices(), seed=3, start_ts_ms=START)
    assert group.command("dev-C2", "stop")["state"] == 0
    assert group.command("dev-H", "set_control_mode", {"mode": "sequencer"})["mode"] == "sequencer"
    assert group.command("dev-V1", "set_pressure_setpoint", {"setpoint_bar": 6.4})["setpoint_bar"] == 6.4
    with pytest.raises(NotFound):
        group.command("dev-X", "load")
    with pytest.raises(ValidationFailed):
        group.command("dev-H", "load")


def test_the_device_list_must_match_the_station() -> None:
    with pytest.raises(ValidationFailed, match="6 compressors"):
        AirStationGroup(devices()[:3], seed=1, start_ts_ms=START)
