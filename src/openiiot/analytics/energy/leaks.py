"""Leak estimates: timed load/unload in no-demand periods and pressure decay (DOE sourcebook, A3).

Both give the leak flow as free air (m³/min) at an operating pressure; ``leak_cost`` turns a flow into kW,
kWh per year and cost with the station's specific power (MEASUR leak survey: cost = Q·h·SP·price).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from openiiot.analytics.energy.kpis import LOADED, P_ATM_BAR, durations_s

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True, slots=True)
class LeakEstimate:
    """A leak flow estimate and what it costs."""

    method: str
    flow_m3_min: float  # free air at ``pressure_barg``
    pressure_barg: float
    power_kw: float  # flow x specific power
    energy_kwh_per_year: float
    cost_per_year: float
    detail: str  # the measured quantities behind the estimate, in words


def leak_fraction_timed(loaded_s: float, unloaded_s: float) -> float:
    """Sourcebook timed test: leakage share of capacity = T/(T + t), T loaded time, t unloaded time."""
    total = loaded_s + unloaded_s
    return loaded_s / total if total > 0 else math.nan


def leak_cost(
    flow_m3_min: float,
    specific_power_kw_per_m3_min: float,
    *,
    hours_per_year: float = HOURS_PER_YEAR,
    price_per_kwh: float = 0.0,
) -> tuple[float, float, float]:
    """(kW, kWh per year, cost per year) of a leak flow at the station's specific power."""
    kw = flow_m3_min * specific_power_kw_per_m3_min
    kwh = kw * hours_per_year
    return kw, kwh, kwh * price_per_kwh


def leaks_from_no_demand(
    ts_s: ArrayLike,
    states: Sequence[ArrayLike],
    rated_flows_m3_min: Sequence[float],
    no_demand: ArrayLike,
    *,
    header_pressure_barg: ArrayLike | None = None,
    operating_barg: float | None = None,
    flows_m3_min: Sequence[ArrayLike] | None = None,
    specific_power_kw_per_m3_min: float = 6.5,
    hours_per_year: float = HOURS_PER_YEAR,
    price_per_kwh: float = 0.0,
) -> LeakEstimate:
    """Timed load/unload method over the samples where ``no_demand`` is true (nights, weekends, test windows).

    Each compressor's leakage share T/(T+t) times its rated flow is the flow it supplied to the leaks; the
    station leak flow is their sum. Leak flow rises with absolute pressure (choked orifice), so when the
    header pressure series is given the flow is scaled from the mean test pressure to ``operating_barg``.
    When the compressors' metered flows are given (``flows_m3_min``), their time-weighted mean is used
    instead of loaded share x rated flow: a VSD, or a unit loaded below its rating, delivers less than rated.
    """
    mask = np.asarray(no_demand, dtype=bool)
    dt = durations_s(ts_s)
    if not mask.any():
        raise ValueError("no sample is marked as a no-demand period")
    span = float(dt[mask].sum())
    flow = 0.0
    parts = []
    for i, (st, rated) in enumerate(zip(states, rated_flows_m3_min, strict=True)):
        s = np.asarray(st).astype(np.int64)[mask]
        loaded = float(dt[mask][s == LOADED].sum())
        if flows_m3_min is not None:
            q = float(np.sum(np.asarray(flows_m3_min[i], dtype=np.float64)[mask] * dt[mask]) / span)
            flow += q
            parts.append(f"{loaded / span:.1%} loaded, metered mean {q:.2f}")
        else:
            flow += loaded / span * rated
            parts.append(f"{loaded / span:.1%} of {rated:g}")
    p_test = math.nan
    if header_pressure_barg is not None:
        p = np.asarray(header_pressure_barg, dtype=np.float64)[mask]
        p_test = float(np.sum(p * dt[mask]) / span)
        if operating_barg is not None:
            flow *= (operating_barg + P_ATM_BAR) / (p_test + P_ATM_BAR)
    p_ref = operating_barg if operating_barg is not None else p_test
    kw, kwh, cost = leak_cost(
        flow, specific_power_kw_per_m3_min, hours_per_year=hours_per_year, price_per_kwh=price_per_kwh
    )
    return LeakEstimate(
        method="metered flow (no demand)" if flows_m3_min is not None else "timed load/unload (no demand)",
        flow_m3_min=flow,
        pressure_barg=p_ref,
        power_kw=kw,
        energy_kwh_per_year=kwh,
        cost_per_year=cost,
        detail=f"{span / 3600:.1f} h without demand; per compressor (m³/min): " + ", ".join(parts),
    )


def sourcebook_decay_flow_m3_min(
    volume_m3: float, p1_barg: float, p2_barg: float, minutes: float, factor: float = 1.25
) -> float:
    """Classic bleed-down: Q = factor·V·(P1 - P2)/(t·p_atm); 1.25 corrects to system pressure (A3)."""
    return factor * volume_m3 * (p1_barg - p2_barg) / (minutes * P_ATM_BAR)


def leaks_from_pressure_decay(
    volume_m3: float,
    ts_s: ArrayLike,
    pressure_barg: ArrayLike,
    *,
    operating_barg: float | None = None,
    specific_power_kw_per_m3_min: float = 6.5,
    hours_per_year: float = HOURS_PER_YEAR,
    price_per_kwh: float = 0.0,
) -> LeakEstimate:
    """Pressure-decay test: compressors stopped, no demand, pressure falls through the leaks alone.

    The receiver mass balance V/p_atm·dp/dt = -Q(p) with a choked-orifice leak Q ∝ absolute pressure makes
    ln(p_abs) fall linearly in time; the least-squares slope s (1/min) gives the leak flow at the operating
    pressure Q = -s·V·p_op,abs/p_atm. This uses every sample, not only the two end points, and needs no
    empirical correction factor; the sourcebook two-point figure is given in ``detail`` for comparison.
    """
    t_min = (np.asarray(ts_s, dtype=np.float64) - float(np.asarray(ts_s, dtype=np.float64)[0])) / 60.0
    p = np.asarray(pressure_barg, dtype=np.float64)
    if p.size < 3 or t_min[-1] <= 0:
        raise ValueError("a decay test needs at least 3 samples over a positive duration")
    slope, _ = np.polyfit(t_min, np.log(p + P_ATM_BAR), 1)
    p_op = operating_barg if operating_barg is not None else float(p[0])
    flow = max(0.0, -float(slope) * volume_m3 * (p_op + P_ATM_BAR) / P_ATM_BAR)
    classic = sourcebook_decay_flow_m3_min(volume_m3, float(p[0]), float(p[-1]), float(t_min[-1]))
    kw, kwh, cost = leak_cost(
        flow, specific_power_kw_per_m3_min, hours_per_year=hours_per_year, price_per_kwh=price_per_kwh
    )
    return LeakEstimate(
        method="pressure decay",
        flow_m3_min=flow,
        pressure_barg=p_op,
        power_kw=kw,
        energy_kwh_per_year=kwh,
        cost_per_year=cost,
        detail=(
            f"{volume_m3:g} m³ from {p[0]:.2f} to {p[-1]:.2f} barg in {t_min[-1]:.1f} min; "
            f"sourcebook two-point estimate x1.25: {classic:.2f} m³/min"
        ),
    )
