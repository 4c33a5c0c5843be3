"""The energy station on the device API: each compressor and the header meter as an MQTT device.

`AirStationGroup` is a simulator model group (see fleet.ModelGroup): its compressor devices are the
station's units in order (fixed-speed units first, then the VSD), and one `station_header` device is the
header meter and the station controller. Compressors accept start, stop, load, unload and
set_pressure_setpoint; the header accepts set_pressure_setpoint (sequencer target, or every cascade band
shifted) and set_control_mode (cascade or sequencer). `PROFILES` are the device profiles that declare
these keys and methods, for a tenant to create before adding the devices.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.sim.air_station import AirStation, StationConfig, default_station
from openiiot.sim.fleet import COMPRESSOR, STATION_HEADER, Reading, SimulatedDevice

# 3-phase power to line current at 400 V and a power factor of 0.87 (domain-methods A1)
_SUPPLY_V = 400.0
_POWER_FACTOR = 0.87
# thermal lags as in the foundation's compressor model: winding rise at full power, air-end discharge at
# 20 °C ambient loaded / unloaded (a thermostatic valve keeps the oil warm)
_MOTOR_RISE_K = 55.0
_MOTOR_TAU_S = 900.0
_DISCHARGE_LOADED_C = 85.0
_DISCHARGE_UNLOADED_C = 72.0
_DISCHARGE_TAU_S = 120.0


def _key(
    key: str, unit: str, kind: str = "measurement", lo: float | None = None, hi: float | None = None
) -> dict[str, Any]:
    return {"key": key, "unit": unit, "kind": kind, "min_value": lo, "max_value": hi}


_UNIT_KEYS = [
    _key("state", "", "state", 0, 2),
    _key("flow_m3_min", "m³/min", lo=0, hi=100),
    _key("power_kw", "kW", lo=0, hi=500),
    _key("current_a", "A", lo=0, hi=1000),
    _key("discharge_pressure_bar", "bar", lo=0, hi=16),
    _key("motor_temp_c", "°C", lo=-40, hi=200),
    _key("discharge_temp_c", "°C", lo=-40, hi=200),
    _key("run_hours", "h", "counter", lo=0),
    _key("loaded_hours", "h", "counter", lo=0),
    _key("energy_kwh", "kWh", "counter", lo=0),
]
_UNIT_METHODS = [
    {"name": "start", "description": "enable the compressor (it loads when the header asks)"},
    {"name": "stop", "dangerous": True, "description": "stop the motor; a second user confirms"},
    {"name": "load", "description": "load now"},
    {"name": "unload", "description": "unload now (a VSD stops)"},
    {
        "name": "set_pressure_setpoint",
        "description": "centre the load/unload band (fixed speed) or the set-point (VSD) on this pressure",
        "params": [{"name": "setpoint_bar", "min": 4.0, "max": 10.0, "unit": "bar"}],
    },
]

#: device profiles of the energy station, by simulator model name
PROFILES: dict[str, dict[str, Any]] = {
    "energy_compressor": {
        "name": "Station compressor (fixed speed or VSD)",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [
            *_UNIT_KEYS,
            _key("load_bar", "bar", lo=0, hi=16),
            _key("unload_bar", "bar", lo=0, hi=16),
            _key("setpoint_bar", "bar", lo=0, hi=16),
            _key("speed_pct", "%", lo=0, hi=100),
        ],
        "methods": _UNIT_METHODS,
    },
    STATION_HEADER: {
        "name": "Station header meter and controller",
        "strict": True,
        "inactivity_timeout_s": 60,
        "keys": [
            _key("pressure_bar", "bar", lo=0, hi=16),
            _key("flow_m3_min", "m³/min", lo=0, hi=1000),
            _key("volume_m3", "m³", "counter", lo=0),
            _key("power_kw", "kW", lo=0, hi=5000),
            _key("energy_kwh", "kWh", "counter", lo=0),
            _key("ambient_c", "°C", lo=-50, hi=60),
            _key("setpoint_bar", "bar", lo=0, hi=16),
            _key("control_mode", "", "state", 0, 1),
        ],
        "methods": [
            {
                "name": "set_pressure_setpoint",
                "description": "station target: the sequencer's band centre, or every cascade band shifted",
                "params": [{"name": "setpoint_bar", "min": 4.0, "max": 10.0, "unit": "bar"}],
            },
            {
                "name": "set_control_mode",
                "description": "cascade (each unit by its own band) or sequencer (one narrow band)",
                "params": [{"name": "mode", "type": "string", "choices": ["cascade", "sequencer"]}],
            },
        ],
    },
}


class AirStationGroup:
    """One energy station and the devices that report it (compressors in unit order, then the header)."""

    def __init__(
        self,
        devices: list[SimulatedDevice],
        seed: int,
        start_ts_ms: int,
        config: StationConfig | None = None,
    ) -> None:
        config = config or default_station()
        self.station = AirStation(config, seed, start_ts_ms)
        units = self.station.unit_names()
        compressors = [d for d in devices if d.model == COMPRESSOR]
        headers = [d for d in devices if d.model == STATION_HEADER]
        if (
            len(compressors) != len(units)
            or len(headers) > 1
            or len(compressors) + len(headers) != len(devices)
        ):
            raise ValidationFailed(
                f"an energy station lists its {len(units)} compressors ({', '.join(units)}) and at most one "
                f"station_header; got {len(compressors)} compressors, {len(headers)} headers "
                f"and {len(devices) - len(compressors) - len(headers)} other devices",
                field="devices",
            )
        self.devices = devices
        self._unit_of = {d.device_id: u for d, u in zip(compressors, units, strict=True)}
        self._header = headers[0].device_id if headers else None
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 104729]))
        ambient = self.station.ambient_c
        self._temps = {u: [ambient, ambient] for u in units}  # motor, discharge (°C)
        self._rated_kw = {f.name: f.rated_power_kw for f in config.fixed}
        if config.vsd is not None:
            self._rated_kw[config.vsd.name] = config.vsd.rated_power_kw

    def advance(self, dt_s: float) -> None:
        """Move the station forward; motor and discharge temperatures follow the new state with a lag."""
        self.station.advance(dt_s)
        ambient = self.station.ambient_c
        warm = 0.5 * (ambient - 20.0)
        for unit, temps in self._temps.items():
            values = self.station.unit_telemetry(unit)
            state = int(values["state"])
            motor_target = ambient + _MOTOR_RISE_K * values["power_kw"] / self._rated_kw[unit]
            if state == 2:
                discharge_target = _DISCHARGE_LOADED_C + warm
            elif state == 1:
                discharge_target = _DISCHARGE_UNLOADED_C + warm
            else:
                discharge_target = ambient
            temps[0] += (motor_target - temps[0]) * (1.0 - math.exp(-dt_s / _MOTOR_TAU_S))
            temps[1] += (discharge_target - temps[1]) * (1.0 - math.exp(-dt_s / _DISCHARGE_TAU_S))

    def readings(self) -> list[Reading]:
        """What each device reports now, with meter noise (drawn apart from the physics)."""
        out: list[Reading] = []
        for device in self.devices:
            unit = self._unit_of.get(device.device_id)
            out.append((device, self._unit_reading(unit) if unit else self._header_reading()))
        return out

    def _unit_reading(self, unit: str) -> dict[str, float]:
        exact = self.station.unit_telemetry(unit)
        noise = self._rng.normal(0.0, 1.0, 5).tolist()
        power = max(0.0, exact["power_kw"] * (1.0 + 0.005 * noise[0]))
        values = {k: round(v, 4) for k, v in exact.items()}
        values["power_kw"] = round(power, 2)
        values["current_a"] = round(power * 1000.0 / (math.sqrt(3) * _SUPPLY_V * _POWER_FACTOR), 1)
        values["flow_m3_min"] = round(max(0.0, exact["flow_m3_min"] * (1.0 + 0.01 * noise[1])), 3)
        values["discharge_pressure_bar"] = round(
            max(0.0, exact["discharge_pressure_bar"] + 0.01 * noise[2]), 3
        )
        motor, discharge = self._temps[unit]
        values["motor_temp_c"] = round(motor + 0.2 * noise[3], 1)
        values["discharge_temp_c"] = round(discharge + 0.3 * noise[4], 1)
        return values

    def _header_reading(self) -> dict[str, float]:
        exact = self.station.header_telemetry()
        noise = self._rng.normal(0.0, 1.0, 2).tolist()
        values = {k: round(v, 4) for k, v in exact.items()}
        values["pressure_bar"] = round(max(0.0, exact["pressure_bar"] + 0.005 * noise[0]), 3)
        values["flow_m3_min"] = round(max(0.0, exact["flow_m3_min"] * (1.0 + 0.01 * noise[1])), 3)
        return values

    def command(self, device_id: str, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Route a command to the unit or the station controller behind `device_id`."""
        unit = self._unit_of.get(device_id)
        if unit is not None:
            return self.station.command(unit, name, params)
        if device_id == self._header:
            return self.station.command_header(name, params)
        raise NotFound("device", device_id)
