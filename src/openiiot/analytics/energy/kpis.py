"""Compressor and station KPIs from telemetry series (domain-methods A1, A2, A4, A5).

Every series is sampled at the times ``ts_s`` (seconds, increasing); each sample holds until the next one
(the last one for the median step). Power in kW, flow as free air delivery in m³/min, pressure in bar gauge,
state codes 0 off, 1 unloaded, 2 loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

P_ATM_BAR = 1.01325
KAPPA_AIR = 1.4
CFM_PER_M3_MIN = 35.3147
KW_100CFM_PER_KW_M3MIN = 100.0 / CFM_PER_M3_MIN  # 1 kW/(m³/min) = 2.832 kW/100 cfm (A1)
PSI_PER_BAR = 14.5038
OFF, UNLOADED, LOADED = 0, 1, 2


def durations_s(ts_s: ArrayLike) -> Array:
    """Hold time of each sample: the step to the next sample, the median step for the last one."""
    ts = np.asarray(ts_s, dtype=np.float64)
    if ts.size == 0:
        return np.zeros(0)
    if ts.size == 1:
        return np.zeros(1)
    d = np.diff(ts)
    if np.any(d <= 0):
        raise ValueError("ts_s must be strictly increasing")
    return np.append(d, np.median(d))


def isentropic_power_kw(
    flow_m3_min: ArrayLike, pressure_barg: ArrayLike, p_atm_bar: float = P_ATM_BAR, kappa: float = KAPPA_AIR
) -> Array:
    """Isentropic power P = k/(k-1)·p1·V·[(p2/p1)^((k-1)/k) - 1] (A1: 4.76 kW per m³/min at 7 barg)."""
    q = np.asarray(flow_m3_min, dtype=np.float64)
    p2 = np.asarray(pressure_barg, dtype=np.float64) + p_atm_bar
    e = (kappa - 1.0) / kappa
    return np.asarray(
        kappa / (kappa - 1.0) * p_atm_bar * 1e5 * q / 60.0 * ((p2 / p_atm_bar) ** e - 1.0) / 1e3
    )


def specific_power_kw_per_m3_min(energy_kwh: float, air_m3: float) -> float:
    """Specific power kW/(m³/min) = package energy / free air delivered (A1); NaN without air."""
    return 60.0 * energy_kwh / air_m3 if air_m3 > 0 else math.nan


def to_kw_per_100cfm(sp_kw_per_m3_min: float) -> float:
    """kW/(m³/min) -> kW/100 cfm (factor 2.832, A1)."""
    return sp_kw_per_m3_min * KW_100CFM_PER_KW_M3MIN


def doe_min_efficiency(full_load_cfm: float, *, variable_speed: bool, liquid_cooled: bool = False) -> float:
    """US DOE minimum package isentropic efficiency, 10 CFR 431.345 Table 1 (lubricated rotary, A1)."""
    x = math.log(0.4719 * full_load_cfm)
    if variable_speed:
        regr, d = -0.01549 * x * x + 0.21573 * x + 0.00905, -10.0
    else:
        regr, d = -0.00928 * x * x + 0.13911 * x + 0.27110, -15.0
    if liquid_cooled:
        regr += 0.02349
    return regr + (1.0 - regr) * d / 100.0


def doe_reference_efficiency(full_load_cfm: float, *, variable_speed: bool) -> float:
    """The regression (reference) efficiency η_regr of 10 CFR 431.345, air-cooled, before the d offset."""
    x = math.log(0.4719 * full_load_cfm)
    if variable_speed:
        return -0.01549 * x * x + 0.21573 * x + 0.00905
    return -0.00928 * x * x + 0.13911 * x + 0.27110


def pressure_power_ratio(p_from_barg: float, p_to_barg: float, p_atm_bar: float = P_ATM_BAR) -> float:
    """Power at p_to / power at p_from for the same flow, MEASUR CompressedAirPressureReduction (A4).

    P_new = P_rated·(x^c - 1)/(r^c - 1), c = 0.395/1.395; 7 -> 6 barg gives 0.916 (-8.4 %).
    """
    c = 0.395 / 1.395
    r = (p_from_barg + p_atm_bar) / p_atm_bar
    x = (p_to_barg + p_atm_bar) / p_atm_bar
    return float((x**c - 1.0) / (r**c - 1.0))


@dataclass(frozen=True, slots=True)
class CompressorKpis:
    """KPIs of one compressor over a period."""

    name: str
    hours_loaded: float
    hours_unloaded: float
    hours_off: float
    energy_kwh: float
    energy_unloaded_kwh: float  # energy drawn while running unloaded: wasted, it delivers no air
    air_m3: float
    specific_power_kw_per_m3_min: float  # whole period, NaN without air
    specific_power_loaded_kw_per_m3_min: float  # loaded samples only
    isentropic_efficiency: float  # isentropic power of the delivered air at its pressure / input power
    load_factor: float  # mean power while running / full-load power
    loaded_fraction: float  # loaded time / running time
    cycles_per_hour: float  # unloaded -> loaded transitions per running hour

    @property
    def running_hours(self) -> float:
        return self.hours_loaded + self.hours_unloaded


def compressor_kpis(
    ts_s: ArrayLike,
    power_kw: ArrayLike,
    state: ArrayLike,
    flow_m3_min: ArrayLike,
    pressure_barg: ArrayLike,
    *,
    full_load_kw: float | None = None,
    name: str = "",
) -> CompressorKpis:
    """Loaded/unloaded/off hours, energy wasted unloaded, specific power, efficiency, load factor, cycling.

    ``full_load_kw`` defaults to the 99th percentile of power while loaded.
    """
    dt_h = durations_s(ts_s) / 3600.0
    p = np.asarray(power_kw, dtype=np.float64)
    st = np.asarray(state).astype(np.int64)
    q = np.asarray(flow_m3_min, dtype=np.float64)
    pr = np.asarray(pressure_barg, dtype=np.float64)
    if not (p.shape == st.shape == q.shape == pr.shape == dt_h.shape):
        raise ValueError("all series must have the length of ts_s")
    loaded, unloaded = st == LOADED, st == UNLOADED
    running = loaded | unloaded
    energy = float(np.sum(p * dt_h))
    e_loaded = float(np.sum(p[loaded] * dt_h[loaded]))
    air = float(np.sum(q * dt_h) * 60.0)
    air_loaded = float(np.sum(q[loaded] * dt_h[loaded]) * 60.0)
    isen = float(np.sum(isentropic_power_kw(q, pr) * dt_h))
    h_run = float(np.sum(dt_h[running]))
    if full_load_kw is None:
        full_load_kw = float(np.percentile(p[loaded], 99)) if loaded.any() else math.nan
    e_run = float(np.sum(p[running] * dt_h[running]))
    starts = int(np.sum((st[1:] == LOADED) & (st[:-1] != LOADED)))
    return CompressorKpis(
        name=name,
        hours_loaded=float(np.sum(dt_h[loaded])),
        hours_unloaded=float(np.sum(dt_h[unloaded])),
        hours_off=float(np.sum(dt_h[st == OFF])),
        energy_kwh=energy,
        energy_unloaded_kwh=float(np.sum(p[unloaded] * dt_h[unloaded])),
        air_m3=air,
        specific_power_kw_per_m3_min=specific_power_kw_per_m3_min(energy, air),
        specific_power_loaded_kw_per_m3_min=specific_power_kw_per_m3_min(e_loaded, air_loaded),
        isentropic_efficiency=isen / energy if energy > 0 else math.nan,
        load_factor=e_run / h_run / full_load_kw if h_run > 0 and full_load_kw > 0 else math.nan,
        loaded_fraction=float(np.sum(dt_h[loaded])) / h_run if h_run > 0 else math.nan,
        cycles_per_hour=starts / h_run if h_run > 0 else math.nan,
    )


def control_gap_m3_min(
    vsd_max_m3_min: float, vsd_min_m3_min: float, fixed_steps_m3_min: Sequence[float]
) -> float:
    """Static control gap: how much the largest fixed step exceeds the VSD's controllable range (A5).

    0 means the VSD can always trim between fixed steps; > 0 means VSD and a fixed unit will fight.
    """
    largest = max(fixed_steps_m3_min, default=0.0)
    return max(0.0, largest - (vsd_max_m3_min - vsd_min_m3_min))


def control_gap_fraction(
    ts_s: ArrayLike,
    vsd_state: ArrayLike,
    vsd_flow_m3_min: ArrayLike,
    vsd_min_flow_m3_min: float,
    fixed_states: Sequence[ArrayLike],
    tolerance_m3_min: float = 0.05,
) -> float:
    """Share of the time the VSD runs at or below turndown (or unloaded) while a fixed unit runs unloaded.

    That is the observed symptom of a control gap: both units partly idle instead of the VSD trimming (A5).
    """
    dt = durations_s(ts_s)
    vs = np.asarray(vsd_state).astype(np.int64)
    vq = np.asarray(vsd_flow_m3_min, dtype=np.float64)
    vsd_idle = (vs == UNLOADED) | ((vs == LOADED) & (vq <= vsd_min_flow_m3_min + tolerance_m3_min))
    fixed_unloaded = np.zeros(dt.shape, dtype=bool)
    for f in fixed_states:
        fixed_unloaded |= np.asarray(f).astype(np.int64) == UNLOADED
    total = float(np.sum(dt))
    return float(np.sum(dt[vsd_idle & fixed_unloaded])) / total if total > 0 else math.nan


@dataclass(frozen=True, slots=True)
class PressureKpis:
    """Header pressure band and the energy penalty of running above the minimum required pressure."""

    min_barg: float
    max_barg: float
    p05_barg: float
    p95_barg: float
    mean_barg: float
    band_bar: float  # p95 - p05
    excess_bar: float  # time-weighted mean of (pressure - required), 0 when below
    excess_power_share: float  # share of compressor power spent on the excess pressure (MEASUR A4)


def pressure_kpis(ts_s: ArrayLike, pressure_barg: ArrayLike, required_barg: float | None) -> PressureKpis:
    """Pressure band, excess pressure over ``required_barg`` and its power share (A4, A5).

    Without a required pressure the excess and its power share are NaN.
    """
    w = durations_s(ts_s)
    p = np.asarray(pressure_barg, dtype=np.float64)
    if p.size == 0:
        raise ValueError("no pressure samples")
    order = np.argsort(p)
    cum = np.cumsum(w[order]) / np.sum(w)
    ps = p[order]
    p05, p95 = (float(ps[min(int(np.searchsorted(cum, f)), p.size - 1)]) for f in (0.05, 0.95))
    mean = float(np.sum(p * w) / np.sum(w))
    if required_barg is None:
        excess = share = math.nan
    else:
        excess = float(np.sum(np.clip(p - required_barg, 0.0, None) * w) / np.sum(w))
        share = 1.0 - pressure_power_ratio(required_barg + excess, required_barg) if excess > 0 else 0.0
    return PressureKpis(
        min_barg=float(p.min()),
        max_barg=float(p.max()),
        p05_barg=p05,
        p95_barg=p95,
        mean_barg=mean,
        band_bar=p95 - p05,
        excess_bar=excess,
        excess_power_share=share,
    )


@dataclass(frozen=True, slots=True)
class StationKpis:
    """Station totals: the sum of its compressors, with station specific power and pressure KPIs."""

    compressors: tuple[CompressorKpis, ...]
    energy_kwh: float
    energy_unloaded_kwh: float
    air_m3: float
    specific_power_kw_per_m3_min: float
    isentropic_specific_power_kw_per_m3_min: float  # ideal SP at the mean header pressure
    isentropic_efficiency: float
    pressure: PressureKpis | None


def station_kpis(
    compressors: Sequence[CompressorKpis],
    ts_s: ArrayLike | None = None,
    header_pressure_barg: ArrayLike | None = None,
    required_barg: float | None = None,
) -> StationKpis:
    """Station KPIs from per-compressor KPIs and, optionally, the header pressure series."""
    energy = sum(c.energy_kwh for c in compressors)
    air = sum(c.air_m3 for c in compressors)
    pk = None
    if ts_s is not None and header_pressure_barg is not None:
        pk = pressure_kpis(ts_s, header_pressure_barg, required_barg)
    p_ref = pk.mean_barg if pk is not None else 7.0
    isen_sp = float(isentropic_power_kw(1.0, p_ref))
    sp = specific_power_kw_per_m3_min(energy, air)
    return StationKpis(
        compressors=tuple(compressors),
        energy_kwh=energy,
        energy_unloaded_kwh=sum(c.energy_unloaded_kwh for c in compressors),
        air_m3=air,
        specific_power_kw_per_m3_min=sp,
        isentropic_specific_power_kw_per_m3_min=isen_sp,
        isentropic_efficiency=isen_sp / sp if sp > 0 else math.nan,
        pressure=pk,
    )


@dataclass(frozen=True, slots=True)
class CompressorSeries:
    """One compressor's telemetry over a period, sampled at the station's ``ts_s``."""

    name: str
    power_kw: ArrayLike
    state: ArrayLike
    flow_m3_min: ArrayLike
    pressure_barg: ArrayLike
    full_load_kw: float | None = None
    vsd_min_flow_m3_min: float | None = None  # set for a VSD unit: its turndown flow


@dataclass(frozen=True, slots=True)
class StationReport:
    """Station KPIs plus the observed control gap (NaN without a VSD or without fixed units)."""

    kpis: StationKpis
    control_gap_fraction: float


def analyse_station(
    ts_s: ArrayLike,
    compressors: Sequence[CompressorSeries],
    header_pressure_barg: ArrayLike | None = None,
    required_barg: float | None = None,
) -> StationReport:
    """All KPIs of a station from its telemetry in one call (per compressor, station, pressure, gap)."""
    per_unit = [
        compressor_kpis(
            ts_s,
            c.power_kw,
            c.state,
            c.flow_m3_min,
            c.pressure_barg,
            full_load_kw=c.full_load_kw,
            name=c.name,
        )
        for c in compressors
    ]
    vsd = [c for c in compressors if c.vsd_min_flow_m3_min is not None]
    fixed = [c.state for c in compressors if c.vsd_min_flow_m3_min is None]
    gap = math.nan
    if vsd and fixed and vsd[0].vsd_min_flow_m3_min is not None:
        gap = control_gap_fraction(ts_s, vsd[0].state, vsd[0].flow_m3_min, vsd[0].vsd_min_flow_m3_min, fixed)
    station = station_kpis(per_unit, ts_s, header_pressure_barg, required_barg)
    return StationReport(station, gap)
