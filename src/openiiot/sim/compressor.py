"""A fixed-speed oil-injected screw compressor with load/unload control inside a pressure band."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

import numpy as np

from openiiot.domain.errors import ValidationFailed

P_ATM_BAR = 1.01325
# polytropic exponent term (k-1)/k of MEASUR's pressure-reduction formula (AMO-Tools-Suite
# CompressedAirPressureReduction.cpp, domain-methods A4)
_PRESSURE_EXPONENT = 0.395 / 1.395
# 3-phase power to line current at 400 V and a loaded power factor of 0.87 (domain-methods A1)
_SUPPLY_V = 400.0
_POWER_FACTOR = 0.87


class CompressorState(IntEnum):
    """Operating state as reported in the `state` telemetry key."""

    OFF = 0
    UNLOADED = 1
    LOADED = 2


@dataclass(frozen=True, slots=True)
class CompressorSpec:
    """Nameplate and controller settings of one compressor."""

    rated_power_kw: float = 90.0  # package input power, loaded at rated pressure
    rated_fad_m3_min: float = 15.0  # free air delivery per ISO 1217
    rated_pressure_bar: float = 7.5  # gauge, full-load pressure on the data sheet
    unloaded_power_fraction: float = 0.25  # typical 15-35 % (domain-methods A2)
    blowdown_s: float = 40.0  # sump blow-down after unload (MEASUR default)
    blowdown_start_fraction: float = 0.6  # power share just after unloading, decays to unloaded
    load_bar: float = 6.5  # load when header pressure falls to this
    unload_bar: float = 7.5  # unload when header pressure rises to this
    idle_stop_s: float | None = 600.0  # motor stops after this long unloaded (dual control)
    loaded_drop_bar: float = 0.15  # discharge above header while delivering (dryer, filters, pipe)
    motor_rise_k: float = 55.0  # winding temperature rise over ambient at rated power
    motor_tau_s: float = 900.0
    discharge_loaded_c: float = 85.0  # air-end discharge at 20 °C ambient, loaded
    discharge_unloaded_c: float = 72.0  # thermostatic valve keeps oil warm while unloaded
    discharge_tau_s: float = 120.0

    def __post_init__(self) -> None:
        if not 0.0 < self.unloaded_power_fraction < 1.0:
            raise ValidationFailed(
                "unloaded power fraction must be in (0, 1)", field="unloaded_power_fraction"
            )
        if self.load_bar >= self.unload_bar:
            raise ValidationFailed("load pressure must be below unload pressure", field="load_bar")
        if self.rated_fad_m3_min <= 0 or self.rated_power_kw <= 0:
            raise ValidationFailed("rated flow and power must be positive", field="rated_fad_m3_min")

    def loaded_power_kw(self, discharge_bar: float) -> float:
        """Loaded package power at a discharge pressure, scaled from rated (MEASUR, domain-methods A4)."""
        x = (max(discharge_bar, 0.0) + P_ATM_BAR) / P_ATM_BAR
        r = (self.rated_pressure_bar + P_ATM_BAR) / P_ATM_BAR
        c = _PRESSURE_EXPONENT
        return float(self.rated_power_kw * (x**c - 1.0) / (r**c - 1.0))


class ScrewCompressor:
    """Deterministic (seeded) load/unload screw compressor; step it with the header pressure."""

    def __init__(self, spec: CompressorSpec, rng: np.random.Generator, ambient_c: float = 25.0) -> None:
        self.spec = spec
        self._rng = rng
        self.ambient_c = ambient_c
        self.enabled = True  # stopped by command = disabled, does not restart on pressure
        self.state = CompressorState.OFF
        self.flow_m3_min = 0.0
        self.power_kw = 0.0
        self.discharge_pressure_bar = 0.0
        self.motor_temp_c = ambient_c
        self.discharge_temp_c = ambient_c
        self.run_hours = 0.0
        self.loaded_hours = 0.0
        self.energy_kwh = 0.0
        self._since_unload_s = math.inf
        self._unloaded_for_s = 0.0

    def step(self, dt_s: float, header_bar: float) -> None:
        """Advance by `dt_s` seconds, controlling on the header pressure seen at the start of the step."""
        self._control(header_bar)
        spec = self.spec
        if self.state is CompressorState.LOADED:
            self.flow_m3_min = spec.rated_fad_m3_min
            self.discharge_pressure_bar = header_bar + spec.loaded_drop_bar
            self.power_kw = spec.loaded_power_kw(self.discharge_pressure_bar)
        elif self.state is CompressorState.UNLOADED:
            self.flow_m3_min = 0.0
            self.discharge_pressure_bar = header_bar
            self.power_kw = self._unloaded_power_kw()
            self._since_unload_s += dt_s
            self._unloaded_for_s += dt_s
        else:
            self.flow_m3_min = 0.0
            self.discharge_pressure_bar = header_bar
            self.power_kw = 0.0
        running = self.state is not CompressorState.OFF
        self.run_hours += dt_s / 3600.0 if running else 0.0
        self.loaded_hours += dt_s / 3600.0 if self.state is CompressorState.LOADED else 0.0
        self.energy_kwh += self.power_kw * dt_s / 3600.0
        self._follow_temperatures(dt_s)

    def _control(self, header_bar: float) -> None:
        spec = self.spec
        if not self.enabled:
            self.state = CompressorState.OFF
            return
        if self.state is CompressorState.LOADED and header_bar >= spec.unload_bar:
            self._set_unloaded()
        elif self.state is not CompressorState.LOADED and header_bar <= spec.load_bar:
            self.state = CompressorState.LOADED
            self._unloaded_for_s = 0.0
        elif (
            self.state is CompressorState.UNLOADED
            and spec.idle_stop_s is not None
            and self._unloaded_for_s >= spec.idle_stop_s
        ):
            self.state = CompressorState.OFF

    def _set_unloaded(self) -> None:
        self.state = CompressorState.UNLOADED
        self._since_unload_s = 0.0
        self._unloaded_for_s = 0.0

    def _unloaded_power_kw(self) -> float:
        # the sump still holds pressure after unloading, so power falls to the unloaded level only
        # once the blow-down is over (MEASUR Compressors_LoadUnload)
        spec = self.spec
        unloaded = spec.unloaded_power_fraction * spec.rated_power_kw
        if spec.blowdown_s <= 0 or self._since_unload_s >= spec.blowdown_s:
            return unloaded
        start = max(spec.blowdown_start_fraction * spec.rated_power_kw, unloaded)
        return start + (unloaded - start) * self._since_unload_s / spec.blowdown_s

    def _follow_temperatures(self, dt_s: float) -> None:
        spec = self.spec
        motor_target = self.ambient_c + spec.motor_rise_k * self.power_kw / spec.rated_power_kw
        if self.state is CompressorState.LOADED:
            discharge_target = spec.discharge_loaded_c + 0.5 * (self.ambient_c - 20.0)
        elif self.state is CompressorState.UNLOADED:
            discharge_target = spec.discharge_unloaded_c + 0.5 * (self.ambient_c - 20.0)
        else:
            discharge_target = self.ambient_c
        self.motor_temp_c += (motor_target - self.motor_temp_c) * (1.0 - math.exp(-dt_s / spec.motor_tau_s))
        self.discharge_temp_c += (discharge_target - self.discharge_temp_c) * (
            1.0 - math.exp(-dt_s / spec.discharge_tau_s)
        )

    def command(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Apply an RPC-style command: start, stop, load, unload, set_pressure_setpoint."""
        params = params or {}
        if name == "start":
            self.enabled = True
            if self.state is CompressorState.OFF:
                self._set_unloaded()
        elif name == "stop":
            self.enabled = False
            self.state = CompressorState.OFF
        elif name == "load":
            if not self.enabled:
                raise ValidationFailed("compressor is stopped; start it first", field="method")
            self.state = CompressorState.LOADED
            self._unloaded_for_s = 0.0
        elif name == "unload":
            if self.state is not CompressorState.OFF:
                self._set_unloaded()
        elif name == "set_pressure_setpoint":
            self._set_band(params)
        else:
            raise ValidationFailed(f"unknown command {name!r}", field="method")
        return {"state": int(self.state), "load_bar": self.spec.load_bar, "unload_bar": self.spec.unload_bar}

    def _set_band(self, params: dict[str, Any]) -> None:
        # either the band itself, or a set-point the band is centred on with its present width
        try:
            if "setpoint_bar" in params:
                half = (self.spec.unload_bar - self.spec.load_bar) / 2
                setpoint = float(params["setpoint_bar"])
                params = {"load_bar": setpoint - half, "unload_bar": setpoint + half}
            load_bar = float(params.get("load_bar", self.spec.load_bar))
            unload_bar = float(params.get("unload_bar", self.spec.unload_bar))
        except (TypeError, ValueError) as exc:
            raise ValidationFailed("pressure setpoints must be numbers", field="params") from exc
        if not 0.0 < load_bar < unload_bar <= 13.0:
            raise ValidationFailed("need 0 < load_bar < unload_bar <= 13 bar", field="params")
        self.spec = replace(self.spec, load_bar=load_bar, unload_bar=unload_bar)

    @property
    def current_a(self) -> float:
        """Motor line current from package power: P = √3·V·I·PF (domain-methods A1)."""
        return self.power_kw * 1000.0 / (math.sqrt(3) * _SUPPLY_V * _POWER_FACTOR)

    def telemetry(self) -> dict[str, float]:
        """Current readings as the controller reports them, with measurement noise."""
        noise = self._rng.normal(0.0, 1.0, 5).tolist()
        power_kw = max(0.0, self.power_kw * (1.0 + 0.005 * noise[0]))
        return {
            "state": float(int(self.state)),
            "flow_m3_min": round(self.flow_m3_min * (1.0 + 0.01 * noise[1]), 3),
            "power_kw": round(power_kw, 2),
            "current_a": round(self.current_a * (1.0 + 0.005 * noise[0]), 1),
            "discharge_pressure_bar": round(max(0.0, self.discharge_pressure_bar + 0.01 * noise[2]), 3),
            "motor_temp_c": round(self.motor_temp_c + 0.2 * noise[3], 1),
            "discharge_temp_c": round(self.discharge_temp_c + 0.3 * noise[4], 1),
            "run_hours": round(self.run_hours, 4),
            "loaded_hours": round(self.loaded_hours, 4),
            "energy_kwh": round(self.energy_kwh, 3),
        }
