"""A compressed-air station for energy work: exact event-driven physics and ground truth by cause.

Fixed-speed load/unload units (unloaded power as a share of full load, sump blow-down, idle stop) and one
VSD trim unit (turndown limit, part-load curve) feed a receiver and header. Between control events the
supply is constant and every consumer is linear in absolute pressure (leaks as choked orifices,
unregulated end uses), so the header mass balance dP/dt = p_atm·(S - C(P))/(60·V) is solved exactly:
P(t) = P∞ + (P0 - P∞)·e^(-B·t). The model jumps from event to event — a demand step, a band crossing, the
end of a blow-down, an idle-stop timer, a sequencer delay — so a year runs in seconds, and the energy it
reports is the exact integral, split into loaded, unloaded, blow-down, excess-pressure and leak shares.

Control is either cascaded individual pressure bands (each unit by its own band, the VSD at its own
set-point) or a central sequencer with one narrow band: the VSD trims at the target, fixed units are base
load, loaded one at a time when the VSD cannot hold the band's floor, unloaded when it cannot hold its top
(domain-methods A2, A5). Plant demand follows shifts and weekdays in local time with seeded variation;
ambient temperature follows the season and the day and shifts package power slightly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from scipy.signal import lfilter

from openiiot.domain.errors import ValidationFailed
from openiiot.sim.compressor import P_ATM_BAR

__all__ = [
    "AirStation",
    "ControlMode",
    "FixedSpec",
    "HourlyRecord",
    "PlantSpec",
    "StationConfig",
    "UnitState",
    "VsdSpec",
    "concat_records",
    "default_station",
]

_EXPONENT = 0.395 / 1.395  # MEASUR pressure-reduction exponent (domain-methods A4)
_EPS_BAR = 1e-9
_MS_PER_H = 3_600_000


def pressure_power_factor(discharge_bar: float, rated_bar: float) -> float:
    """Loaded package power at `discharge_bar` over power at `rated_bar` (MEASUR, domain-methods A4)."""
    x = (max(discharge_bar, 0.0) + P_ATM_BAR) / P_ATM_BAR
    r = (rated_bar + P_ATM_BAR) / P_ATM_BAR
    return float((x**_EXPONENT - 1.0) / (r**_EXPONENT - 1.0))


def ambient_power_factor(ambient_c: float, per_k: float) -> float:
    """Warmer inlet air: slightly more power for the same free air delivery."""
    return 1.0 + per_k * (ambient_c - 20.0)


#: (UTC s, header pressure, unit states, unit flows, unit powers), units in `AirStation.unit_names` order
Sample = tuple[float, float, tuple[int, ...], tuple[float, ...], tuple[float, ...]]


class UnitState(IntEnum):
    """Reported in the `state` telemetry key (same codes as the foundation's compressor)."""

    OFF = 0
    UNLOADED = 1
    LOADED = 2


class ControlMode(StrEnum):
    """How the units are told to load and unload."""

    CASCADE = "cascade"
    SEQUENCER = "sequencer"


@dataclass(frozen=True, slots=True)
class FixedSpec:
    """A fixed-speed load/unload screw compressor and its local pressure band."""

    name: str = "C1"
    rated_power_kw: float = 110.0  # package input, loaded at rated pressure
    rated_fad_m3_min: float = 19.5
    rated_pressure_bar: float = 7.5
    unloaded_power_fraction: float = 0.25  # typical 15-35 % (domain-methods A2)
    blowdown_s: float = 40.0  # MEASUR default sump blow-down
    blowdown_start_fraction: float = 0.6  # power share just after unloading, decays to unloaded
    load_bar: float = 6.5
    unload_bar: float = 7.3
    idle_stop_s: float = 600.0  # motor stops after running unloaded this long
    loaded_drop_bar: float = 0.15  # dryer, filters and pipe between the unit and the header

    def __post_init__(self) -> None:
        if not 0.0 < self.unloaded_power_fraction < 1.0:
            raise ValidationFailed(
                "unloaded power fraction must be in (0, 1)", field="unloaded_power_fraction"
            )
        if not 0.0 < self.load_bar < self.unload_bar <= 13.0:
            raise ValidationFailed("need 0 < load_bar < unload_bar <= 13 bar", field="load_bar")
        if self.rated_power_kw <= 0 or self.rated_fad_m3_min <= 0:
            raise ValidationFailed("rated power and flow must be positive", field="rated_power_kw")


@dataclass(frozen=True, slots=True)
class VsdSpec:
    """A variable-speed trim compressor: flow from turndown to full, power on a part-load curve."""

    name: str = "V1"
    rated_power_kw: float = 160.0
    rated_fad_m3_min: float = 28.0
    rated_pressure_bar: float = 7.5
    turndown_fraction: float = 0.25  # minimum flow share of rated (min speed)
    # P/P_FL = c0 + c1·f + c2·f² for flow share f in [turndown, 1]; c0 + c1 + c2 = 1 (domain-methods A2)
    power_curve: tuple[float, float, float] = (0.08, 0.85, 0.07)
    setpoint_bar: float = 7.0
    stop_above_bar: float = 0.3  # at minimum speed and this far above set-point: stop
    restart_below_bar: float = 0.05  # restart this far below set-point
    loaded_drop_bar: float = 0.15

    def __post_init__(self) -> None:
        if not 0.05 <= self.turndown_fraction < 1.0:
            raise ValidationFailed("turndown must be in [0.05, 1)", field="turndown_fraction")
        if abs(sum(self.power_curve) - 1.0) > 1e-6:
            raise ValidationFailed(
                "the part-load curve must give full power at full flow", field="power_curve"
            )

    @property
    def min_flow_m3_min(self) -> float:
        """Flow at minimum speed."""
        return self.turndown_fraction * self.rated_fad_m3_min

    def power_share(self, flow_m3_min: float) -> float:
        """Package power at rated pressure as a share of full load for a flow."""
        f = flow_m3_min / self.rated_fad_m3_min
        c0, c1, c2 = self.power_curve
        return c0 + c1 * f + c2 * f * f


@dataclass(frozen=True, slots=True)
class PlantSpec:
    """Demand, leaks and weather of the plant the station serves."""

    timezone: str = "Asia/Shanghai"
    full_demand_m3_min: float = 80.0  # end-use air at full production and reference pressure
    full_production_per_h: float = 120.0  # production units an hour at full rate
    # production share by shift (local time): weekday day (08-20) and night, Saturday, Sunday
    weekday_day: float = 1.0
    weekday_night: float = 0.7
    saturday: float = 0.5
    sunday: float = 0.2
    idle_hours_sunday: tuple[int, int] = (0, 6)  # no production: only leaks draw air (leak tests)
    day_start_h: int = 8
    day_end_h: int = 20
    production_variation: float = 0.08  # hourly relative sd of production
    demand_variation: float = 0.08  # relative sd of the air demand around production (per step)
    demand_tau_s: float = 600.0  # correlation time of that variation
    demand_step_s: int = 120  # demand is held constant this long (divides 3600)
    unregulated_share: float = 0.3  # end uses without regulators: flow rises with pressure
    reference_bar: float = 7.0  # pressure at which demand and leaks are stated
    leak_m3_min: float = 20.0  # leak flow at the reference pressure
    growth: float = 1.0  # production multiplier (the reporting year may produce more)
    ambient_mean_c: float = 16.0
    ambient_season_k: float = 12.0  # half the summer-winter swing; coldest about 15 January
    ambient_day_k: float = 4.0  # half the day-night swing; warmest about 15:00
    ambient_weather_k: float = 2.5  # day-to-day anomaly (sd)

    def __post_init__(self) -> None:
        if self.demand_step_s <= 0 or 3600 % self.demand_step_s:
            raise ValidationFailed("demand_step_s must divide an hour", field="demand_step_s")
        if self.leak_m3_min < 0 or self.full_demand_m3_min < 0:
            raise ValidationFailed("flows must not be negative", field="leak_m3_min")


@dataclass(frozen=True, slots=True)
class StationConfig:
    """Units, storage, plant and control of one station."""

    fixed: tuple[FixedSpec, ...]
    vsd: VsdSpec | None
    plant: PlantSpec = field(default_factory=PlantSpec)
    volume_m3: float = 15.0  # receivers plus header piping
    mode: ControlMode = ControlMode.CASCADE
    target_bar: float = 6.4  # sequencer target (VSD set-point under the sequencer)
    band_bar: float = 0.1  # sequencer half band
    sequencer_delay_s: float = 20.0  # between two sequencer actions
    sequencer_idle_stop_s: float = 300.0  # a fixed unit unloaded by the sequencer stops after this
    required_bar: float = 6.0  # lowest header pressure the plant needs (excess pressure above it)
    ambient_power_per_k: float = 0.002
    initial_pressure_bar: float = 6.8

    def __post_init__(self) -> None:
        if self.volume_m3 <= 0:
            raise ValidationFailed("receiver volume must be positive", field="volume_m3")
        if not self.fixed and self.vsd is None:
            raise ValidationFailed("a station needs at least one compressor", field="fixed")
        names = [f.name for f in self.fixed] + ([self.vsd.name] if self.vsd else [])
        if len(set(names)) != len(names):
            raise ValidationFailed("unit names must be unique", field="fixed")

    @property
    def installed_fad_m3_min(self) -> float:
        """Sum of rated free air delivery."""
        return sum(f.rated_fad_m3_min for f in self.fixed) + (self.vsd.rated_fad_m3_min if self.vsd else 0.0)


def default_station(mode: ControlMode = ControlMode.CASCADE, **plant: Any) -> StationConfig:
    """Five 110 kW fixed-speed units cascaded 0.15 bar apart and a 160 kW VSD (the "before" station)."""
    fixed = tuple(
        FixedSpec(name=f"C{i + 1}", load_bar=7.0 - 0.15 * i, unload_bar=7.6 - 0.15 * i) for i in range(5)
    )
    # the trim VSD set at the lowest band: the fixed units do the trimming (domain-methods A5)
    vsd = VsdSpec(name="V1", setpoint_bar=6.3)
    return StationConfig(fixed=fixed, vsd=vsd, plant=PlantSpec(**plant), mode=mode, target_bar=6.3)


class _Fixed:
    __slots__ = (
        "blowdown_kwh",
        "enabled",
        "energy_kwh",
        "loaded_kwh",
        "loaded_s",
        "run_s",
        "since_unload_s",
        "spec",
        "state",
        "stop_after_s",
        "unloaded_for_s",
        "unloaded_kwh",
    )

    def __init__(self, spec: FixedSpec) -> None:
        self.spec = spec
        self.state = UnitState.OFF
        self.enabled = True
        self.since_unload_s = math.inf
        self.unloaded_for_s = 0.0
        self.stop_after_s = spec.idle_stop_s
        self.energy_kwh = 0.0
        self.loaded_kwh = 0.0
        self.unloaded_kwh = 0.0
        self.blowdown_kwh = 0.0
        self.loaded_s = 0.0
        self.run_s = 0.0

    def load(self) -> None:
        self.state = UnitState.LOADED
        self.unloaded_for_s = 0.0

    def unload(self, stop_after_s: float) -> None:
        if self.state is UnitState.LOADED:
            self.since_unload_s = 0.0
        self.state = UnitState.UNLOADED
        self.unloaded_for_s = 0.0
        self.stop_after_s = stop_after_s


class _Vsd:
    __slots__ = ("enabled", "energy_kwh", "flow", "loaded_s", "run_s", "setpoint_bar", "spec", "state")

    def __init__(self, spec: VsdSpec) -> None:
        self.spec = spec
        self.state = UnitState.OFF
        self.enabled = True
        self.setpoint_bar = spec.setpoint_bar
        self.flow = 0.0
        self.energy_kwh = 0.0
        self.loaded_s = 0.0
        self.run_s = 0.0


@dataclass(frozen=True, slots=True)
class HourlyRecord:
    """One column per quantity, one row per hour (numpy arrays of equal length)."""

    ts_ms: np.ndarray  # hour start, UTC epoch ms
    energy_kwh: np.ndarray  # station electrical energy (what the station meter reads)
    air_m3: np.ndarray  # free air into the header network: plant demand plus leaks (flow meter)
    production: np.ndarray  # production units made in the hour (the plant's relevant variable)
    ambient_c: np.ndarray
    pressure_bar: np.ndarray  # time-mean header pressure
    loaded_h: np.ndarray  # fixed units' loaded hours summed
    unloaded_h: np.ndarray  # fixed units' running-unloaded hours summed
    # ground truth, exact
    true_leak_m3: np.ndarray
    true_demand_m3: np.ndarray
    loaded_kwh: np.ndarray  # fixed units loaded plus the VSD
    unloaded_kwh: np.ndarray  # fixed units at the unloaded level
    blowdown_kwh: np.ndarray  # above the unloaded level while the sump blows down
    excess_pressure_kwh: np.ndarray  # compression above the required pressure
    leak_kwh: np.ndarray  # station energy in the share of air that leaks

    def as_columns(self) -> dict[str, np.ndarray]:
        """Name → column."""
        return {name: getattr(self, name) for name in self.__slots__}


def concat_records(records: list[HourlyRecord]) -> HourlyRecord:
    """Join consecutive hourly records."""
    cols = {name: np.concatenate([getattr(r, name) for r in records]) for name in HourlyRecord.__slots__}
    return HourlyRecord(**cols)


class PlantConditions:
    """Seeded production, demand steps and ambient temperature, drawn by the day so that any day can be
    produced again alone; control never draws from these streams, so two stations under different control
    meet exactly the same plant (the counterfactual of the savings truth)."""

    def __init__(self, plant: PlantSpec, seed: int, start_ts_ms: int) -> None:
        self.plant = plant
        self.seed = seed
        self.start_ts_ms = start_ts_ms
        self._tz = ZoneInfo(plant.timezone)
        self._steps_per_h = 3600 // plant.demand_step_s
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def day(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Production per hour (24), ambient per hour (24), end-use demand per step at the reference
        pressure (24·steps) for day `index` after the start."""
        got = self._cache.get(index)
        if got is not None:
            return got
        if len(self._cache) > 4:
            self._cache.clear()
        p = self.plant
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7919, index]))
        hours = self.start_ts_ms + (index * 24 + np.arange(24)) * _MS_PER_H
        share = np.array([self._shift_share(int(ts)) for ts in hours])
        production = (
            p.full_production_per_h
            * p.growth
            * share
            * np.clip(1.0 + p.production_variation * rng.standard_normal(24), 0.0, None)
        )
        # demand: production times an AR(1) variation with correlation time demand_tau_s
        n = 24 * self._steps_per_h
        a = math.exp(-p.demand_step_s / p.demand_tau_s)
        noise = rng.standard_normal(n) * p.demand_variation * math.sqrt(1.0 - a * a)
        first = p.demand_variation * rng.standard_normal()
        variation, _ = lfilter([1.0], [1.0, -a], noise, zi=[a * first])
        per_unit = p.full_demand_m3_min / p.full_production_per_h
        demand = np.repeat(production * per_unit, self._steps_per_h) * np.clip(1.0 + variation, 0.0, None)
        ambient = self._ambient(hours, rng)
        got = (production, ambient, demand)
        self._cache[index] = got
        return got

    def _shift_share(self, ts_ms: int) -> float:
        p = self.plant
        local = datetime.fromtimestamp(ts_ms / 1000.0, self._tz)
        weekday = local.weekday()
        if weekday == 6:
            lo, hi = p.idle_hours_sunday
            return 0.0 if lo <= local.hour < hi else p.sunday
        if weekday == 5:
            return p.saturday
        return p.weekday_day if p.day_start_h <= local.hour < p.day_end_h else p.weekday_night

    def _ambient(self, hours_ms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.plant
        day_of_year = (hours_ms / 86_400_000.0) % 365.2425  # epoch days: 1 January ≈ day 0
        local_hour = np.array([datetime.fromtimestamp(t / 1000.0, self._tz).hour for t in hours_ms])
        season = -p.ambient_season_k * np.cos(2.0 * math.pi * (day_of_year - 15.0) / 365.2425)
        daily = p.ambient_day_k * np.cos(2.0 * math.pi * (local_hour - 15.0) / 24.0)
        weather = p.ambient_weather_k * rng.standard_normal()
        return np.asarray(p.ambient_mean_c + season + daily + weather, dtype=float)


class AirStation:
    """The station in simulated time: `advance(dt_s)` for live devices, `run_hours(n)` to fast-forward."""

    def __init__(self, config: StationConfig, seed: int, start_ts_ms: int) -> None:
        offset_s = (start_ts_ms % _MS_PER_H) / 1000.0
        start_ts_ms -= start_ts_ms % _MS_PER_H  # the plant is drawn by the hour from the hour's start
        self.config = config
        self.start_ts_ms = start_ts_ms
        self.conditions = PlantConditions(config.plant, seed, start_ts_ms)
        self.fixed = [_Fixed(s) for s in config.fixed]
        self.vsd = _Vsd(config.vsd) if config.vsd else None
        self.mode = config.mode
        self.target_bar = config.target_bar
        self.t_s = offset_s  # seconds since start_ts_ms
        self.pressure_bar = config.initial_pressure_bar
        self._seq_next_s = 0.0
        self._loaded_order: list[int] = []  # sequencer: fixed units in the order they were loaded
        p = config.plant
        self._step_s = float(p.demand_step_s)
        ref_abs = p.reference_bar + P_ATM_BAR
        self._leak_k = p.leak_m3_min / ref_abs  # leak flow per bar absolute
        self._unreg = p.unregulated_share / ref_abs  # per bar absolute, times the demand
        self._reg = 1.0 - p.unregulated_share
        self._alpha = P_ATM_BAR / (60.0 * config.volume_m3)
        self._inv_den: dict[float, float] = {}
        self._pf_req: dict[tuple[float, float], float] = {}
        # present conditions
        self._step_index = -1
        self.demand_ref = 0.0
        self.production_rate = 0.0
        self.ambient_c = 0.0
        self._set_conditions(int(offset_s // self._step_s))
        # cumulative totals (meters and truth)
        self.energy_kwh = 0.0
        self.air_m3 = 0.0
        self.supplied_m3 = 0.0  # free air the compressors delivered
        self.demand_m3 = 0.0
        self.leak_m3 = 0.0
        self.production = 0.0
        self.excess_kwh = 0.0
        self.vsd_kwh = 0.0
        self._hour: _HourAcc | None = None
        self.samples: list[Sample] = []
        self._control()

    # ----- conditions -------------------------------------------------------------------------------
    def _set_conditions(self, step_index: int) -> None:
        steps_per_h = 3600 // self.config.plant.demand_step_s
        steps_per_day = 24 * steps_per_h
        day, within = divmod(step_index, steps_per_day)
        production, ambient, demand = self.conditions.day(day)
        self._step_index = step_index
        self.demand_ref = float(demand[within])
        self.production_rate = float(production[within // steps_per_h])
        self.ambient_c = float(ambient[within // steps_per_h])
        self._amb = ambient_power_factor(self.ambient_c, self.config.ambient_power_per_k)

    @property
    def ts_ms(self) -> int:
        """Present simulated time, UTC epoch ms."""
        return self.start_ts_ms + round(self.t_s * 1000.0)

    def consumption_m3_min(self, pressure_bar: float | None = None) -> tuple[float, float]:
        """(end-use demand, leak) flows at a header pressure (default: the present one)."""
        p_abs = max(self.pressure_bar if pressure_bar is None else pressure_bar, 0.0) + P_ATM_BAR
        return self.demand_ref * (self._reg + self._unreg * p_abs), self._leak_k * p_abs

    @property
    def supply_m3_min(self) -> float:
        """Free air delivered by all units now."""
        s = sum(u.spec.rated_fad_m3_min for u in self.fixed if u.state is UnitState.LOADED)
        return s + (self.vsd.flow if self.vsd else 0.0)

    def _pf(self, discharge_bar: float, rated_bar: float) -> float:
        inv = self._inv_den.get(rated_bar)
        if inv is None:
            inv = 1.0 / (((rated_bar + P_ATM_BAR) / P_ATM_BAR) ** _EXPONENT - 1.0)
            self._inv_den[rated_bar] = inv
        x = (discharge_bar if discharge_bar > 0.0 else 0.0) / P_ATM_BAR + 1.0
        return float((x**_EXPONENT - 1.0) * inv)

    def _pf_required(self, key: tuple[float, float]) -> float:
        """Power factor at the required header pressure for a unit of (rated bar, drop)."""
        got = self._pf_req.get(key)
        if got is None:
            got = self._pf_req[key] = self._pf(self.config.required_bar + key[1], key[0])
        return got

    # ----- control -------------------------------------------------------------------------------------
    def _vsd_flow(self, fixed_supply: float) -> float:
        """Idealised PI trim: saturated below/above the set-point, tracking exactly at it."""
        vsd = self.vsd
        if vsd is None or vsd.state is UnitState.OFF:
            return 0.0
        lo, hi = vsd.spec.min_flow_m3_min, vsd.spec.rated_fad_m3_min
        sp = vsd.setpoint_bar
        if self.pressure_bar < sp - _EPS_BAR:
            return hi
        if self.pressure_bar > sp + _EPS_BAR:
            return lo
        demand, leak = self.consumption_m3_min(sp)
        return min(max(demand + leak - fixed_supply, lo), hi)

    def _control(self) -> None:
        """Apply the control rules at the present instant (called at every event)."""
        p = self.pressure_bar
        vsd = self.vsd
        if self.mode is ControlMode.CASCADE:
            for u in self.fixed:
                s = u.spec
                if not u.enabled:
                    u.state = UnitState.OFF
                elif u.state is UnitState.LOADED:
                    if p >= s.unload_bar - _EPS_BAR:
                        u.unload(s.idle_stop_s)
                elif p <= s.load_bar + _EPS_BAR:
                    u.load()
        else:
            self._sequence(p)
        for u in self.fixed:
            if u.state is UnitState.UNLOADED and u.unloaded_for_s >= u.stop_after_s - 1e-9:
                u.state = UnitState.OFF
        if vsd is not None:
            if not vsd.enabled:
                vsd.state = UnitState.OFF
            elif vsd.state is UnitState.OFF:
                if p <= vsd.setpoint_bar - vsd.spec.restart_below_bar + _EPS_BAR:
                    vsd.state = UnitState.LOADED
            elif p >= vsd.setpoint_bar + vsd.spec.stop_above_bar - _EPS_BAR:
                vsd.state = UnitState.OFF
            if vsd.state is UnitState.LOADED and abs(p - vsd.setpoint_bar) <= _EPS_BAR:
                self.pressure_bar = vsd.setpoint_bar  # snap: tracking holds the set-point exactly
        fixed_supply = sum(u.spec.rated_fad_m3_min for u in self.fixed if u.state is UnitState.LOADED)
        if vsd is not None:
            vsd.flow = self._vsd_flow(fixed_supply)

    def _sequence(self, p: float) -> None:
        cfg = self.config
        if self.vsd is not None:
            self.vsd.setpoint_bar = self.target_bar
        self._loaded_order = [i for i in self._loaded_order if self.fixed[i].state is UnitState.LOADED]
        for i, u in enumerate(self.fixed):
            if not u.enabled:
                u.state = UnitState.OFF
            elif u.state is UnitState.LOADED and i not in self._loaded_order:
                self._loaded_order.append(i)  # loaded by hand: the sequencer takes it over
        if self.t_s < self._seq_next_s - 1e-9:
            return
        if p <= self.target_bar - cfg.band_bar + _EPS_BAR:
            waiting = [i for i, u in enumerate(self.fixed) if u.enabled and u.state is not UnitState.LOADED]
            if waiting:
                # prefer a unit that is already running unloaded (no motor start)
                waiting.sort(key=lambda i: (self.fixed[i].state is not UnitState.UNLOADED, i))
                self.fixed[waiting[0]].load()
                self._loaded_order.append(waiting[0])
                self._seq_next_s = self.t_s + cfg.sequencer_delay_s
        elif p >= self.target_bar + cfg.band_bar - _EPS_BAR and self._loaded_order:
            i = self._loaded_order.pop()
            self.fixed[i].unload(cfg.sequencer_idle_stop_s)
            self._seq_next_s = self.t_s + cfg.sequencer_delay_s

    def _thresholds(self) -> list[float]:
        """Header pressures at which the control would act next."""
        out: list[float] = []
        if self.mode is ControlMode.CASCADE:
            for u in self.fixed:
                if u.enabled:
                    out.append(u.spec.unload_bar if u.state is UnitState.LOADED else u.spec.load_bar)
        else:
            band = self.config.band_bar
            if any(u.enabled and u.state is not UnitState.LOADED for u in self.fixed):
                out.append(self.target_bar - band)
            if self._loaded_order:
                out.append(self.target_bar + band)
        vsd = self.vsd
        if vsd is not None and vsd.enabled:
            if vsd.state is UnitState.OFF:
                out.append(vsd.setpoint_bar - vsd.spec.restart_below_bar)
            else:
                out.append(vsd.setpoint_bar)
                out.append(vsd.setpoint_bar + vsd.spec.stop_above_bar)
        return out

    # ----- commands --------------------------------------------------------------------------------------
    def unit_names(self) -> list[str]:
        """Fixed units in order, then the VSD."""
        return [u.spec.name for u in self.fixed] + ([self.vsd.spec.name] if self.vsd else [])

    def command(self, unit: str, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """start, stop, load, unload or set_pressure_setpoint for a unit; applied at once."""
        params = params or {}
        vsd = self.vsd
        if vsd is not None and unit == vsd.spec.name:
            result = self._command_vsd(vsd, name, params)
        else:
            index = next((i for i, u in enumerate(self.fixed) if u.spec.name == unit), None)
            if index is None:
                raise ValidationFailed(f"no compressor {unit!r} in this station", field="device_id")
            result = self._command_fixed(self.fixed[index], name, params)
        self._control()
        return result

    def _command_fixed(self, u: _Fixed, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name == "start":
            u.enabled = True
            if u.state is UnitState.OFF:
                u.unload(u.spec.idle_stop_s)
        elif name == "stop":
            u.enabled = False
            u.state = UnitState.OFF
        elif name == "load":
            if not u.enabled:
                raise ValidationFailed("compressor is stopped; start it first", field="method")
            u.load()
        elif name == "unload":
            if u.state is not UnitState.OFF:
                u.unload(u.spec.idle_stop_s)
        elif name == "set_pressure_setpoint":
            load_bar, unload_bar = _band_from(params, u.spec.load_bar, u.spec.unload_bar)
            u.spec = replace(u.spec, load_bar=load_bar, unload_bar=unload_bar)
        else:
            raise ValidationFailed(f"unknown command {name!r}", field="method")
        return {"state": int(u.state), "load_bar": u.spec.load_bar, "unload_bar": u.spec.unload_bar}

    def _command_vsd(self, vsd: _Vsd, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name == "start":
            vsd.enabled = True
            vsd.state = UnitState.LOADED
        elif name == "stop":
            vsd.enabled = False
            vsd.state = UnitState.OFF
        elif name == "load":
            if not vsd.enabled:
                raise ValidationFailed("compressor is stopped; start it first", field="method")
            vsd.state = UnitState.LOADED
        elif name == "unload":
            vsd.state = UnitState.OFF  # a VSD unloads by stopping
        elif name == "set_pressure_setpoint":
            vsd.setpoint_bar = _setpoint_from(params)
            if self.mode is ControlMode.SEQUENCER:
                self.target_bar = vsd.setpoint_bar
        else:
            raise ValidationFailed(f"unknown command {name!r}", field="method")
        return {"state": int(vsd.state), "setpoint_bar": vsd.setpoint_bar}

    def command_header(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The station controller behind the header device: set_pressure_setpoint moves the sequencer
        target (and the VSD with it) or, in cascade, shifts every band by the same amount; set_control_mode
        switches between cascade and sequencer."""
        params = params or {}
        if name == "set_pressure_setpoint":
            setpoint = _setpoint_from(params)
            if self.mode is ControlMode.SEQUENCER:
                self.target_bar = setpoint
            else:
                shift = setpoint - self.target_bar
                for u in self.fixed:
                    s = u.spec
                    lo, hi = s.load_bar + shift, s.unload_bar + shift
                    if not 0.0 < lo < hi <= 13.0:
                        raise ValidationFailed("the shifted bands leave 0-13 bar", field="params")
                for u in self.fixed:
                    u.spec = replace(
                        u.spec, load_bar=u.spec.load_bar + shift, unload_bar=u.spec.unload_bar + shift
                    )
                if self.vsd is not None:
                    self.vsd.setpoint_bar += shift
                self.target_bar = setpoint
        elif name == "set_control_mode":
            try:
                self.mode = ControlMode(str(params.get("mode")))
            except ValueError as exc:
                raise ValidationFailed("mode must be cascade or sequencer", field="params.mode") from exc
            self._loaded_order = []
        else:
            raise ValidationFailed(f"unknown command {name!r}", field="method")
        self._control()
        return {"mode": self.mode.value, "setpoint_bar": round(self.target_bar, 4)}

    # ----- time ------------------------------------------------------------------------------------------
    def advance(self, dt_s: float) -> None:
        """Move `dt_s` seconds forward, event by event."""
        if dt_s > 0:
            self._run_until(self.t_s + dt_s)

    def run_hours(
        self, hours: int, *, sample_s: float | None = None, sample_hours: np.ndarray | None = None
    ) -> HourlyRecord:
        """Fast-forward whole hours from the present (hour-aligned) time; hourly series with the truth.

        With `sample_s`, the hours flagged in `sample_hours` are also sampled every `sample_s` seconds into
        `self.samples` (see `sample`): the telemetry a leak test or the KPIs read.
        """
        if self.t_s % 3600.0:
            self._run_until(math.ceil(self.t_s / 3600.0) * 3600.0)
        acc = _HourAcc(hours)
        self._hour = acc
        first_hour = round(self.t_s / 3600.0)
        try:
            for h in range(hours):
                end = (first_hour + h + 1) * 3600.0
                if sample_s and sample_hours is not None and sample_hours[h]:
                    while self.t_s < end - 1e-9:
                        self.samples.append(self.sample())
                        self._run_until(min(self.t_s + sample_s, end))
                else:
                    self._run_until(end)
                acc.close_hour()
        finally:
            self._hour = None
        ts = self.start_ts_ms + (first_hour + np.arange(hours, dtype=np.int64)) * _MS_PER_H
        return acc.record(ts)

    def sample(self) -> Sample:
        """Exact telemetry now: (UTC s, header pressure, then per unit as in `unit_names`: state, flow,
        power)."""
        p = self.pressure_bar
        amb = self._amb
        states: list[int] = []
        flows: list[float] = []
        powers: list[float] = []
        for u in self.fixed:
            s = u.spec
            states.append(int(u.state))
            if u.state is UnitState.LOADED:
                flows.append(s.rated_fad_m3_min)
                powers.append(s.rated_power_kw * amb * self._pf(p + s.loaded_drop_bar, s.rated_pressure_bar))
            elif u.state is UnitState.UNLOADED:
                unl = s.unloaded_power_fraction * s.rated_power_kw * amb
                start = max(s.blowdown_start_fraction * s.rated_power_kw * amb, unl)
                frac = min(u.since_unload_s / s.blowdown_s, 1.0) if s.blowdown_s > 0 else 1.0
                flows.append(0.0)
                powers.append(start + (unl - start) * frac)
            else:
                flows.append(0.0)
                powers.append(0.0)
        vsd = self.vsd
        if vsd is not None:
            v = vsd.spec
            running = vsd.state is UnitState.LOADED
            states.append(int(vsd.state))
            flows.append(vsd.flow if running else 0.0)
            powers.append(
                v.rated_power_kw
                * amb
                * v.power_share(vsd.flow)
                * self._pf(p + v.loaded_drop_bar, v.rated_pressure_bar)
                if running
                else 0.0
            )
        return self.ts_ms / 1000.0, p, tuple(states), tuple(flows), tuple(powers)

    def _run_until(self, t_end: float) -> None:
        fixed = self.fixed
        vsd = self.vsd
        alpha = self._alpha
        leak_k = self._leak_k
        while self.t_s < t_end - 1e-9:
            t0 = self.t_s
            next_step_t = (self._step_index + 1) * self._step_s
            horizon = min(t_end, next_step_t)
            # timers: blow-down end, idle stop, sequencer delay
            for u in fixed:
                if u.state is UnitState.UNLOADED:
                    if u.since_unload_s < u.spec.blowdown_s:
                        horizon = min(horizon, t0 + u.spec.blowdown_s - u.since_unload_s)
                    horizon = min(horizon, t0 + max(u.stop_after_s - u.unloaded_for_s, 0.0))
            if self.mode is ControlMode.SEQUENCER and self._seq_next_s > t0 + 1e-9:
                horizon = min(horizon, self._seq_next_s)
            # header: dP/dt = A - B·P with supply constant over the segment
            p0 = self.pressure_bar
            fixed_supply = 0.0
            for u in fixed:
                if u.state is UnitState.LOADED:
                    fixed_supply += u.spec.rated_fad_m3_min
            vflow = vsd.flow if vsd is not None else 0.0
            supply = fixed_supply + vflow
            d_ref = self.demand_ref
            k_total = d_ref * self._unreg + leak_k  # flow per bar absolute
            const = d_ref * self._reg + k_total * P_ATM_BAR
            tracking = (
                vsd is not None
                and vsd.state is UnitState.LOADED
                and p0 == vsd.setpoint_bar
                and vsd.spec.min_flow_m3_min < vflow < vsd.spec.rated_fad_m3_min
            )
            b = alpha * k_total
            p_inf = (
                p0
                if tracking
                else (supply - const) / k_total
                if b > 0.0
                else math.copysign(math.inf, supply - const)
            )
            if not tracking and p_inf != p0:
                # the nearest threshold in the direction the pressure moves, if it gets there
                rising = p_inf > p0
                nearest = math.inf if rising else -math.inf
                for thr in self._thresholds():
                    if rising:
                        if p0 + _EPS_BAR < thr < nearest:
                            nearest = thr
                    elif nearest < thr < p0 - _EPS_BAR:
                        nearest = thr
                if (rising and nearest <= p_inf) or (not rising and nearest >= p_inf):
                    if b > 0.0:
                        ratio = (p0 - p_inf) / (nearest - p_inf)
                        t_cross = math.log(ratio) / b if ratio > 1.0 else math.inf
                    else:
                        t_cross = (nearest - p0) / (alpha * (supply - const))
                    horizon = min(horizon, t0 + t_cross)
            # a microsecond at least: float time near a year cannot resolve less, and a timer that
            # float rounding leaves a hair short of its end must still fire
            horizon = max(horizon, min(t0 + 1e-6, t_end))
            h = horizon - t0
            # exact pressure path and its time mean
            if tracking or b <= 0.0:
                p1 = p0 if tracking else p0 + alpha * (supply - const) * h
                p_mean = 0.5 * (p0 + p1)
            else:
                decay = math.exp(-b * h)
                p1 = p_inf + (p0 - p_inf) * decay
                bh = b * h
                p_mean = p_inf + (p0 - p_inf) * ((1.0 - decay) / bh if bh > 1e-12 else 1.0)
            self._integrate(h, p_mean, supply, vflow)
            self.pressure_bar = max(p1, 0.0)
            self.t_s = horizon
            if horizon >= next_step_t - 1e-9:
                self._set_conditions(self._step_index + 1)
            self._control()

    def _integrate(self, h: float, p_mean: float, supply: float, vflow: float) -> None:
        if h <= 0.0:
            return
        hours = h / 3600.0
        amb = self._amb
        cfg = self.config
        req = cfg.required_bar
        energy = loaded_e = unloaded_e = blow_e = excess_e = 0.0
        loaded_h = unloaded_h = 0.0
        pf_here: dict[tuple[float, float], float] = {}  # units of the same rating share one power factor
        for u in self.fixed:
            s = u.spec
            if u.state is UnitState.LOADED:
                full = s.rated_power_kw * amb
                key = (s.rated_pressure_bar, s.loaded_drop_bar)
                pf = pf_here.get(key)
                if pf is None:
                    pf = pf_here[key] = self._pf(p_mean + s.loaded_drop_bar, s.rated_pressure_bar)
                e = full * pf * hours
                loaded_e += e
                if p_mean > req:
                    excess_e += e - full * self._pf_required(key) * hours
                u.loaded_kwh += e
                u.loaded_s += h
                u.run_s += h
                loaded_h += hours
            elif u.state is UnitState.UNLOADED:
                unl = s.unloaded_power_fraction * s.rated_power_kw * amb
                e_unl = unl * hours
                e_bd = 0.0
                s0 = u.since_unload_s
                if s0 < s.blowdown_s:
                    s1 = min(s0 + h, s.blowdown_s)
                    start = max(s.blowdown_start_fraction * s.rated_power_kw * amb, unl)
                    e_bd = (start - unl) * ((s1 - s0) - (s1 * s1 - s0 * s0) / (2.0 * s.blowdown_s)) / 3600.0
                e = e_unl + e_bd
                unloaded_e += e_unl
                blow_e += e_bd
                u.unloaded_kwh += e_unl
                u.blowdown_kwh += e_bd
                u.since_unload_s += h
                u.unloaded_for_s += h
                u.run_s += h
                unloaded_h += hours
            else:
                continue
            u.energy_kwh += e
            energy += e
        vsd = self.vsd
        if vsd is not None and vsd.state is UnitState.LOADED:
            s2 = vsd.spec
            full = s2.rated_power_kw * amb * s2.power_share(vflow)
            e = full * self._pf(p_mean + s2.loaded_drop_bar, s2.rated_pressure_bar) * hours
            if p_mean > req:
                excess_e += e - full * self._pf_required((s2.rated_pressure_bar, s2.loaded_drop_bar)) * hours
            vsd.energy_kwh += e
            vsd.loaded_s += h
            vsd.run_s += h
            loaded_e += e
            energy += e
            self.vsd_kwh += e
        demand, leak = self.consumption_m3_min(p_mean)
        d_m3 = demand * h / 60.0
        l_m3 = leak * h / 60.0
        self.energy_kwh += energy
        self.excess_kwh += excess_e
        self.demand_m3 += d_m3
        self.leak_m3 += l_m3
        self.air_m3 += d_m3 + l_m3
        self.supplied_m3 += supply * h / 60.0
        self.production += self.production_rate * hours
        acc = self._hour
        if acc is not None:
            c = acc.cur  # order of _ACC_FIELDS
            c[0] += energy
            c[1] += loaded_e
            c[2] += unloaded_e
            c[3] += blow_e
            c[4] += excess_e
            c[5] += d_m3
            c[6] += l_m3
            c[7] += self.production_rate * hours
            c[8] += self.ambient_c * hours
            c[9] += p_mean * hours
            c[10] += loaded_h
            c[11] += unloaded_h

    # ----- what the devices report -----------------------------------------------------------------------
    def unit_telemetry(self, unit: str) -> dict[str, float]:
        """Present readings of one compressor (exact; the device layer adds noise)."""
        vsd = self.vsd
        amb = self._amb
        if vsd is not None and unit == vsd.spec.name:
            s2 = vsd.spec
            running = vsd.state is UnitState.LOADED
            power = (
                s2.rated_power_kw
                * amb
                * s2.power_share(vsd.flow)
                * self._pf(self.pressure_bar + s2.loaded_drop_bar, s2.rated_pressure_bar)
                if running
                else 0.0
            )
            return {
                "state": float(int(vsd.state)),
                "flow_m3_min": vsd.flow if running else 0.0,
                "power_kw": power,
                "speed_pct": 100.0 * vsd.flow / s2.rated_fad_m3_min if running else 0.0,
                "discharge_pressure_bar": self.pressure_bar + (s2.loaded_drop_bar if running else 0.0),
                "setpoint_bar": vsd.setpoint_bar,
                "run_hours": vsd.run_s / 3600.0,
                "loaded_hours": vsd.loaded_s / 3600.0,
                "energy_kwh": vsd.energy_kwh,
            }
        u = next((f for f in self.fixed if f.spec.name == unit), None)
        if u is None:
            raise ValidationFailed(f"no compressor {unit!r} in this station", field="device_id")
        s = u.spec
        if u.state is UnitState.LOADED:
            power = (
                s.rated_power_kw * amb * self._pf(self.pressure_bar + s.loaded_drop_bar, s.rated_pressure_bar)
            )
            flow, discharge = s.rated_fad_m3_min, self.pressure_bar + s.loaded_drop_bar
        elif u.state is UnitState.UNLOADED:
            unl = s.unloaded_power_fraction * s.rated_power_kw * amb
            start = max(s.blowdown_start_fraction * s.rated_power_kw * amb, unl)
            frac = min(u.since_unload_s / s.blowdown_s, 1.0) if s.blowdown_s > 0 else 1.0
            power, flow, discharge = start + (unl - start) * frac, 0.0, self.pressure_bar
        else:
            power, flow, discharge = 0.0, 0.0, self.pressure_bar
        return {
            "state": float(int(u.state)),
            "flow_m3_min": flow,
            "power_kw": power,
            "discharge_pressure_bar": discharge,
            "load_bar": s.load_bar,
            "unload_bar": s.unload_bar,
            "run_hours": u.run_s / 3600.0,
            "loaded_hours": u.loaded_s / 3600.0,
            "energy_kwh": u.energy_kwh,
        }

    def header_telemetry(self) -> dict[str, float]:
        """Header meter: pressure, flow into the network, counters, station power, ambient, control."""
        demand, leak = self.consumption_m3_min()
        power = sum(self.unit_telemetry(n)["power_kw"] for n in self.unit_names())
        return {
            "pressure_bar": self.pressure_bar,
            "flow_m3_min": demand + leak,
            "volume_m3": self.air_m3,
            "power_kw": power,
            "energy_kwh": self.energy_kwh,
            "ambient_c": self.ambient_c,
            "setpoint_bar": self.target_bar,
            "control_mode": 1.0 if self.mode is ControlMode.SEQUENCER else 0.0,
        }

    def truth(self) -> dict[str, float]:
        """Exact cumulative ground truth since the start."""
        units = self.fixed
        return {
            "energy_kwh": self.energy_kwh,
            "loaded_kwh": sum(u.loaded_kwh for u in units) + self.vsd_kwh,
            "unloaded_kwh": sum(u.unloaded_kwh for u in units),
            "blowdown_kwh": sum(u.blowdown_kwh for u in units),
            "excess_pressure_kwh": self.excess_kwh,
            "leak_m3": self.leak_m3,
            "demand_m3": self.demand_m3,
            "leak_m3_min_now": self.consumption_m3_min()[1],
        }


_ACC_FIELDS = (
    "energy",
    "loaded_kwh",
    "unloaded_kwh",
    "blowdown_kwh",
    "excess_kwh",
    "demand",
    "leak",
    "production",
    "ambient",
    "pressure",
    "loaded_h",
    "unloaded_h",
)


class _HourAcc:
    """Sums of the present hour in a plain list (cheaper than numpy item updates), one row per hour."""

    def __init__(self, n: int) -> None:
        self.rows: list[list[float]] = []
        self.cur = [0.0] * len(_ACC_FIELDS)
        self.n = n

    def close_hour(self) -> None:
        self.rows.append(self.cur)
        self.cur = [0.0] * len(_ACC_FIELDS)

    def record(self, ts_ms: np.ndarray) -> HourlyRecord:
        table = np.asarray(self.rows, dtype=np.float64).reshape(-1, len(_ACC_FIELDS))
        col = {name: table[:, i].copy() for i, name in enumerate(_ACC_FIELDS)}
        air = col["demand"] + col["leak"]
        with np.errstate(invalid="ignore", divide="ignore"):
            leak_share = np.where(air > 0, col["leak"] / air, 0.0)
        return HourlyRecord(
            ts_ms=ts_ms,
            energy_kwh=col["energy"],
            air_m3=air,
            production=col["production"],
            ambient_c=col["ambient"],
            pressure_bar=col["pressure"],
            loaded_h=col["loaded_h"],
            unloaded_h=col["unloaded_h"],
            true_leak_m3=col["leak"],
            true_demand_m3=col["demand"],
            loaded_kwh=col["loaded_kwh"],
            unloaded_kwh=col["unloaded_kwh"],
            blowdown_kwh=col["blowdown_kwh"],
            excess_pressure_kwh=col["excess_kwh"],
            leak_kwh=col["energy"] * leak_share,
        )


def _setpoint_from(params: dict[str, Any]) -> float:
    try:
        value = float(params["setpoint_bar"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("setpoint_bar must be a number", field="params.setpoint_bar") from exc
    if not 3.0 <= value <= 12.0:
        raise ValidationFailed("setpoint_bar must be within 3-12 bar", field="params.setpoint_bar")
    return value


def _band_from(params: dict[str, Any], load_bar: float, unload_bar: float) -> tuple[float, float]:
    try:
        if "setpoint_bar" in params:
            half = (unload_bar - load_bar) / 2.0
            sp = float(params["setpoint_bar"])
            return _checked_band(sp - half, sp + half)
        return _checked_band(
            float(params.get("load_bar", load_bar)), float(params.get("unload_bar", unload_bar))
        )
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("pressure setpoints must be numbers", field="params") from exc


def _checked_band(lo: float, hi: float) -> tuple[float, float]:
    if not 0.0 < lo < hi <= 13.0:
        raise ValidationFailed("need 0 < load_bar < unload_bar <= 13 bar", field="params")
    return lo, hi
