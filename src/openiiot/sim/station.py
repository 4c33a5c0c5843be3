"""A compressor station: compressors with cascaded bands on one receiver, plant demand, leaks, meters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from openiiot.domain.errors import ValidationFailed
from openiiot.sim.compressor import P_ATM_BAR, CompressorSpec, ScrewCompressor

_MAX_SUBSTEP_S = 0.5  # keeps explicit Euler well inside one band crossing
_SAFETY_VALVE_BAR = 11.0


def header_pressure_rate_bar_s(supply_m3_min: float, demand_m3_min: float, volume_m3: float) -> float:
    """Receiver mass balance dP/dt = p_atm·(Q_supply - Q_demand)/V, flows as free air (isothermal)."""
    return P_ATM_BAR * (supply_m3_min - demand_m3_min) / volume_m3 / 60.0


def leak_flow_m3_min(pressure_bar: float, leak_at_7bar_m3_min: float) -> float:
    """Choked-orifice leak flow, proportional to absolute upstream pressure (DOE sourcebook table)."""
    return leak_at_7bar_m3_min * (max(pressure_bar, 0.0) + P_ATM_BAR) / (7.0 + P_ATM_BAR)


@dataclass(frozen=True, slots=True)
class StationSpec:
    """Layout and plant behaviour of one station; demand fractions are of the installed FAD."""

    n_compressors: int = 3
    compressor: CompressorSpec = field(default_factory=CompressorSpec)
    band_stagger_bar: float = 0.2  # each next compressor loads and unloads this much lower (cascade)
    volume_m3: float = 10.0  # receiver plus header piping
    day_demand_fraction: float = 0.6
    night_demand_fraction: float = 0.4
    weekend_demand_fraction: float = 0.15
    day_start_h: int = 8  # day shift in local time; nights and weekends run a lower demand
    day_end_h: int = 20
    demand_variation: float = 0.08  # relative standard deviation of the demand around the shift level
    demand_tau_s: float = 120.0  # correlation time of the demand variation
    leak_fraction_at_7bar: float = 0.1  # leak flow at 7 bar as a share of installed FAD
    timezone: str = "Asia/Shanghai"
    ambient_c: float = 25.0
    initial_pressure_bar: float = 7.0

    def __post_init__(self) -> None:
        if self.n_compressors < 1:
            raise ValidationFailed("a station needs at least one compressor", field="n_compressors")
        if self.volume_m3 <= 0:
            raise ValidationFailed("receiver volume must be positive", field="volume_m3")

    @property
    def installed_fad_m3_min(self) -> float:
        """Sum of the rated free air delivery of all compressors."""
        return self.n_compressors * self.compressor.rated_fad_m3_min


class CompressorStation:
    """Seeded station model; `advance(dt_s)` moves simulated time and the physics forward."""

    def __init__(self, spec: StationSpec, seed: int, start_ts_ms: int) -> None:
        self.spec = spec
        seeds = np.random.SeedSequence(seed).spawn(spec.n_compressors + 2)
        self._rng = np.random.default_rng(seeds[0])
        # meters draw their noise apart, so what is published never changes the physics
        self._meter_rng = np.random.default_rng(seeds[1])
        self.compressors = [
            ScrewCompressor(self._staggered(i), np.random.default_rng(seeds[i + 2]), spec.ambient_c)
            for i in range(spec.n_compressors)
        ]
        for compressor in self.compressors:
            compressor.discharge_pressure_bar = spec.initial_pressure_bar
        self._tz = ZoneInfo(spec.timezone)
        self.ts_ms = start_ts_ms
        self.pressure_bar = spec.initial_pressure_bar
        self.demand_m3_min = 0.0
        self.leak_m3_min = 0.0
        self.volume_m3 = 0.0  # cumulative air delivered to the plant, as the flow meter counts it
        self._variation = 0.0

    def _staggered(self, index: int) -> CompressorSpec:
        base = self.spec.compressor
        shift = index * self.spec.band_stagger_bar
        return replace(base, load_bar=base.load_bar - shift, unload_bar=base.unload_bar - shift)

    @property
    def supply_m3_min(self) -> float:
        """Free air delivered by all compressors now."""
        return sum(c.flow_m3_min for c in self.compressors)

    @property
    def power_kw(self) -> float:
        """Electrical input of all compressors now."""
        return sum(c.power_kw for c in self.compressors)

    def shift_demand_fraction(self, ts_ms: int) -> float:
        """Mean demand share of installed FAD for the shift at `ts_ms` in the station's time zone."""
        local = datetime.fromtimestamp(ts_ms / 1000.0, self._tz)
        spec = self.spec
        if local.weekday() >= 5:
            return spec.weekend_demand_fraction
        if spec.day_start_h <= local.hour < spec.day_end_h:
            return spec.day_demand_fraction
        return spec.night_demand_fraction

    def advance(self, dt_s: float) -> None:
        """Move the station `dt_s` seconds forward in sub-steps of at most 0.5 s."""
        if dt_s <= 0:
            return
        spec = self.spec
        mean_demand = self.shift_demand_fraction(self.ts_ms) * spec.installed_fad_m3_min
        leak_at_7 = spec.leak_fraction_at_7bar * spec.installed_fad_m3_min
        n_sub = max(1, math.ceil(dt_s / _MAX_SUBSTEP_S))
        h = dt_s / n_sub
        for _ in range(n_sub):
            self._vary_demand(h)
            for compressor in self.compressors:
                compressor.step(h, self.pressure_bar)
            self.demand_m3_min = max(0.0, mean_demand * (1.0 + self._variation))
            self.leak_m3_min = leak_flow_m3_min(self.pressure_bar, leak_at_7)
            consumed = self.demand_m3_min + self.leak_m3_min
            rate = header_pressure_rate_bar_s(self.supply_m3_min, consumed, spec.volume_m3)
            self.pressure_bar = min(max(self.pressure_bar + rate * h, 0.0), _SAFETY_VALVE_BAR)
            self.volume_m3 += consumed * h / 60.0
        self.ts_ms += round(dt_s * 1000.0)

    def _vary_demand(self, h_s: float) -> None:
        # Ornstein-Uhlenbeck process: stationary sd = demand_variation, correlation time demand_tau_s
        tau = self.spec.demand_tau_s
        sigma = self.spec.demand_variation
        self._variation += -self._variation * h_s / tau + sigma * math.sqrt(2.0 * h_s / tau) * float(
            self._rng.normal()
        )

    def flow_meter_telemetry(self) -> dict[str, float]:
        """Header flow meter (plant consumption incl. leaks) with its cumulative volume counter."""
        noise = self._meter_rng.normal(0.0, 1.0, 2).tolist()
        flow = (self.demand_m3_min + self.leak_m3_min) * (1.0 + 0.01 * noise[0])
        return {
            "flow_m3_min": round(max(flow, 0.0), 3),
            "volume_m3": round(self.volume_m3, 3),
            "air_temp_c": round(self.spec.ambient_c + 5.0 + 0.2 * noise[1], 1),
        }

    def pressure_sensor_telemetry(self) -> dict[str, float]:
        """Header pressure transmitter (gauge bar)."""
        return {
            "pressure_bar": round(max(0.0, self.pressure_bar + 0.005 * float(self._meter_rng.normal())), 3)
        }
