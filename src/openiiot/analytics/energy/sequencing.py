"""Optimal compressor sequencing (MILP) and an exhaustive search to check it (domain-methods A2, A5).

For each demand value the plan chooses, per compressor, off / base (fully loaded) / trim, so that supply
covers the demand at the least power, as a central sequencer would: base units fully loaded or off, at most
one fixed-speed unit trimming by load/unload, VSD units modulating between turndown and full flow.

Power models (A2): a fixed-speed load/unload unit trimming at flow q of its rated Q draws
P_FL·(u + (1 - u)·q/Q) (ideal storage, u = unloaded power share); a VSD draws a straight line from its
turndown point (q_min, P_min) to full load (Q, P_FL). Full-load powers are scaled from each unit's rated
pressure to the header set-point with the MEASUR pressure rule (A4).

Use::

    units = [Compressor("C1", 20.0, 125.0, unloaded_share=0.25), ...,
             Compressor("V1", 18.0, 115.0, kind="vsd", min_flow_m3_min=5.0, min_flow_kw=38.0)]
    plan = plan_sequence(units, demand_m3_min, pressure_barg=6.5, hours_per_step=1.0)
    plan.energy_kwh, plan.steps[0].modes
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from openiiot.analytics.energy.kpis import pressure_power_ratio

_SHORTFALL_PENALTY_KW = 1e4  # per m³/min not supplied: only when demand exceeds the station's capacity
_BATCH = 200  # demand values per solver call
_AUTO_EXHAUSTIVE = 729  # mode combinations up to which "auto" enumerates instead of calling the solver


@dataclass(frozen=True, slots=True)
class Compressor:
    """One compressor of a station as the sequencer sees it."""

    name: str
    rated_flow_m3_min: float
    full_load_kw: float  # package input power at full flow and rated pressure
    kind: Literal["fixed", "vsd"] = "fixed"
    unloaded_share: float = 0.25  # fixed: running unloaded power / full-load power
    min_flow_m3_min: float = 0.0  # vsd: turndown flow
    min_flow_kw: float = 0.0  # vsd: power at turndown
    rated_pressure_barg: float = 7.0

    def __post_init__(self) -> None:
        if self.rated_flow_m3_min <= 0 or self.full_load_kw <= 0:
            raise ValueError(f"{self.name}: rated flow and full-load power must be > 0")
        if self.kind == "vsd" and not 0 <= self.min_flow_m3_min < self.rated_flow_m3_min:
            raise ValueError(f"{self.name}: VSD turndown flow must be in [0, rated flow)")

    def scaled(self, pressure_barg: float) -> tuple[float, float]:
        """(full-load kW, turndown kW) at the header pressure."""
        r = pressure_power_ratio(self.rated_pressure_barg, pressure_barg)
        return self.full_load_kw * r, self.min_flow_kw * r


@dataclass(frozen=True, slots=True)
class StepPlan:
    """The plan for one demand value."""

    demand_m3_min: float
    modes: tuple[str, ...]  # per unit: off, base, trim, vsd
    flows_m3_min: tuple[float, ...]
    power_kw: float
    shortfall_m3_min: float  # demand the station cannot supply (0 when feasible)


@dataclass(frozen=True)
class SequencingPlan:
    """A plan over a demand profile."""

    units: tuple[str, ...]
    steps: tuple[StepPlan, ...]
    hours_per_step: float
    method: str

    @property
    def energy_kwh(self) -> float:
        return sum(s.power_kw for s in self.steps) * self.hours_per_step

    @property
    def shortfall_steps(self) -> int:
        return sum(1 for s in self.steps if s.shortfall_m3_min > 1e-6)


@dataclass
class _Block:
    """The MILP of one demand value: cost, integrality, bounds and constraint rows (sparse triplets)."""

    cost: list[float]
    integrality: list[int]
    lo: list[float]
    hi: list[float]
    rows: list[tuple[dict[int, float], float, float]]
    layout: list[tuple[Compressor, int]]
    slack: int


def _milp_block(units: Sequence[Compressor], demand: float, pressure: float, reserve: float) -> _Block:
    # variables per fixed unit: base b, trim t (binary), trim flow q; per VSD: on o (binary), flow q;
    # one shortfall slack at the end
    b = _Block([], [], [], [], [], [], 0)
    flow_terms: dict[int, float] = {}
    trims: dict[int, float] = {}
    for u in units:
        p_fl, p_min = u.scaled(pressure)
        k = len(b.cost)
        if u.kind == "fixed":
            share = u.unloaded_share
            b.cost += [p_fl, share * p_fl, (1 - share) * p_fl / u.rated_flow_m3_min]
            b.integrality += [1, 1, 0]
            b.lo += [0, 0, 0]
            b.hi += [1, 1, u.rated_flow_m3_min]
            b.rows.append(({k: 1.0, k + 1: 1.0}, -np.inf, 1.0))  # base or trim, not both
            b.rows.append(({k + 2: 1.0, k + 1: -u.rated_flow_m3_min}, -np.inf, 0.0))  # q <= Q·t
            flow_terms[k] = u.rated_flow_m3_min
            flow_terms[k + 2] = 1.0
            trims[k + 1] = 1.0
        else:
            slope = (p_fl - p_min) / (u.rated_flow_m3_min - u.min_flow_m3_min)
            b.cost += [p_min - slope * u.min_flow_m3_min, slope]
            b.integrality += [1, 0]
            b.lo += [0, 0]
            b.hi += [1, u.rated_flow_m3_min]
            b.rows.append(({k + 1: 1.0, k: -u.rated_flow_m3_min}, -np.inf, 0.0))  # q <= Q·o
            b.rows.append(({k + 1: 1.0, k: -u.min_flow_m3_min}, 0.0, np.inf))  # q >= q_min·o
            flow_terms[k + 1] = 1.0
        b.layout.append((u, k))
    b.slack = len(b.cost)
    b.cost.append(_SHORTFALL_PENALTY_KW)
    b.integrality.append(0)
    b.lo.append(0)
    b.hi.append(np.inf)
    if trims:
        b.rows.append((trims, -np.inf, 1.0))  # at most one fixed-speed trim unit
    b.rows.append(({**flow_terms, b.slack: 1.0}, demand + reserve, np.inf))
    return b


def _milp_steps(
    units: Sequence[Compressor], demands: Sequence[float], pressure: float, reserve: float
) -> list[StepPlan]:
    """Solve the blocks of all demand values as one MILP (they share no variable): one solver call."""
    blocks = [_milp_block(units, d, pressure, reserve) for d in demands]
    width = len(blocks[0].cost)
    r_idx, c_idx, vals, lo_r, hi_r = [], [], [], [], []
    row = 0
    for i, blk in enumerate(blocks):
        for coefs, lo, hi in blk.rows:
            for j, v in coefs.items():
                r_idx.append(row)
                c_idx.append(i * width + j)
                vals.append(v)
            lo_r.append(lo)
            hi_r.append(hi)
            row += 1
    a = sparse.csr_array((vals, (r_idx, c_idx)), shape=(row, width * len(blocks)))
    res = milp(
        np.concatenate([blk.cost for blk in blocks]),
        constraints=LinearConstraint(a, lo_r, hi_r),
        integrality=np.concatenate([blk.integrality for blk in blocks]),
        bounds=Bounds(np.concatenate([blk.lo for blk in blocks]), np.concatenate([blk.hi for blk in blocks])),
        options={"mip_rel_gap": 1e-7},
    )
    if res.x is None:
        raise RuntimeError(f"the sequencing MILP failed: {res.message}")
    return [
        _decode(blk, res.x[i * width : (i + 1) * width], d, pressure)
        for i, (blk, d) in enumerate(zip(blocks, demands, strict=True))
    ]


def _decode(blk: _Block, x: NDArray[np.float64], demand: float, pressure: float) -> StepPlan:
    modes, flows, power = [], [], 0.0
    for u, k in blk.layout:
        p_fl, p_min = u.scaled(pressure)
        if u.kind == "fixed":
            q = float(x[k + 2]) if x[k + 1] > 0.5 else 0.0
            if x[k] > 0.5 or q >= u.rated_flow_m3_min - 1e-7:
                modes.append("base")
                flows.append(u.rated_flow_m3_min)
                power += p_fl
            elif x[k + 1] > 0.5:
                modes.append("trim")
                flows.append(q)
                power += p_fl * (u.unloaded_share + (1 - u.unloaded_share) * q / u.rated_flow_m3_min)
            else:
                modes.append("off")
                flows.append(0.0)
        elif x[k] > 0.5:
            modes.append("vsd")
            flows.append(float(x[k + 1]))
            power += _vsd_power(u, float(x[k + 1]), p_fl, p_min)
        else:
            modes.append("off")
            flows.append(0.0)
    return StepPlan(demand, tuple(modes), tuple(flows), float(power), float(x[blk.slack]))


def _vsd_power(u: Compressor, q: float, p_fl: float, p_min: float) -> float:
    slope = (p_fl - p_min) / (u.rated_flow_m3_min - u.min_flow_m3_min)
    return p_min + slope * (q - u.min_flow_m3_min)


def _exhaustive_step(units: Sequence[Compressor], demand: float, pressure: float, reserve: float) -> StepPlan:
    need = demand + reserve
    choices = [("off", "base", "trim") if u.kind == "fixed" else ("off", "vsd") for u in units]
    scaled = [u.scaled(pressure) for u in units]
    best: StepPlan | None = None
    for combo in itertools.product(*choices):
        if combo.count("trim") > 1:
            continue
        power, supplied = 0.0, 0.0
        flows = [0.0] * len(units)
        variable: list[tuple[float, int, float]] = []  # (marginal kW per m³/min, unit, room)
        for i, (u, mode) in enumerate(zip(units, combo, strict=True)):
            p_fl, p_min = scaled[i]
            if mode == "base":
                power, supplied, flows[i] = power + p_fl, supplied + u.rated_flow_m3_min, u.rated_flow_m3_min
            elif mode == "trim":
                power += u.unloaded_share * p_fl
                variable.append(((1 - u.unloaded_share) * p_fl / u.rated_flow_m3_min, i, u.rated_flow_m3_min))
            elif mode == "vsd":
                power, supplied, flows[i] = power + p_min, supplied + u.min_flow_m3_min, u.min_flow_m3_min
                room = u.rated_flow_m3_min - u.min_flow_m3_min
                variable.append(((p_fl - p_min) / room, i, room))
        for marginal, i, room in sorted(variable):  # fill the cheapest flow first: optimal for this LP
            add = min(room, max(0.0, need - supplied))
            flows[i] += add
            supplied += add
            power += marginal * add
        short = max(0.0, need - supplied)
        score = power + _SHORTFALL_PENALTY_KW * short
        if best is None or score < best.power_kw + _SHORTFALL_PENALTY_KW * best.shortfall_m3_min - 1e-9:
            best = StepPlan(demand, tuple(combo), tuple(flows), power, short)
    assert best is not None
    return best


def plan_sequence(
    units: Sequence[Compressor],
    demand_m3_min: ArrayLike,
    *,
    pressure_barg: float = 7.0,
    hours_per_step: float = 1.0,
    reserve_m3_min: float = 0.0,
    method: Literal["milp", "exhaustive", "auto"] = "milp",
    resolution_m3_min: float = 0.01,
) -> SequencingPlan:
    """The least-power plan for every demand value (free air at the header set-point ``pressure_barg``).

    ``demand_m3_min`` includes leaks at that pressure; ``reserve_m3_min`` is spare flow kept available.
    Demands are rounded to ``resolution_m3_min`` and each distinct value is solved once. ``exhaustive``
    enumerates every mode combination (3^fixed x 2^vsd) and is meant for small stations, to check the MILP;
    ``auto`` takes the exhaustive search up to 729 combinations (it is then faster) and the MILP beyond.
    """
    if not units:
        raise ValueError("a station needs at least one compressor")
    d = np.asarray(demand_m3_min, dtype=np.float64)
    keys = np.round(d / resolution_m3_min).astype(np.int64)
    distinct = sorted(set(keys.tolist()))
    values = [max(0.0, k * resolution_m3_min) for k in distinct]
    if method == "auto":
        fixed = sum(u.kind == "fixed" for u in units)
        method = "exhaustive" if 3**fixed * 2 ** (len(units) - fixed) <= _AUTO_EXHAUSTIVE else "milp"
    if method == "milp":
        solved = []
        for i in range(0, len(values), _BATCH):
            solved += _milp_steps(units, values[i : i + _BATCH], pressure_barg, reserve_m3_min)
    else:
        solved = [_exhaustive_step(units, v, pressure_barg, reserve_m3_min) for v in values]
    cache = dict(zip(distinct, solved, strict=True))
    steps = [cache[k] for k in keys.tolist()]
    return SequencingPlan(tuple(u.name for u in units), tuple(steps), hours_per_step, method)


@dataclass(frozen=True, slots=True)
class Measure:
    """An energy-saving measure with its estimated yearly effect."""

    name: str
    kwh_per_year: float
    cost_per_year: float
    basis: str  # how the figure was obtained, in words

    def share_of(self, station_kwh_per_year: float) -> float:
        """The measure's saving as a share of the station's yearly energy."""
        return self.kwh_per_year / station_kwh_per_year if station_kwh_per_year else math.nan


def pressure_reduction_measure(
    station_kwh_per_year: float,
    p_from_barg: float,
    p_to_barg: float,
    *,
    unregulated_share: float = 0.0,
    price_per_kwh: float = 0.0,
) -> Measure:
    """Lower header pressure: compressor power by the MEASUR rule (A4), plus less "artificial demand".

    ``unregulated_share`` is the share of the air going to leaks and unregulated uses, whose flow falls
    with absolute pressure (choked orifice): that share of the remaining energy drops by the same ratio.
    """
    ratio = pressure_power_ratio(p_from_barg, p_to_barg)
    direct = station_kwh_per_year * (1 - ratio)
    flow_ratio = (p_to_barg + 1.01325) / (p_from_barg + 1.01325)
    artificial = station_kwh_per_year * ratio * unregulated_share * (1 - flow_ratio)
    kwh = direct + artificial
    return Measure(
        name=f"reduce pressure {p_from_barg:g} -> {p_to_barg:g} barg",
        kwh_per_year=kwh,
        cost_per_year=kwh * price_per_kwh,
        basis=(
            f"compressor power x{ratio:.3f} (MEASUR pressure reduction) = {direct:,.0f} kWh; "
            f"leaks and unregulated uses ({unregulated_share:.0%} of air) x{flow_ratio:.3f} "
            f"= {artificial:,.0f} kWh"
        ),
    )


def leak_repair_measure(
    leak_flow_m3_min: float,
    *,
    repaired_share: float = 0.7,
    specific_power_kw_per_m3_min: float = 6.5,
    hours_per_year: float = 8760.0,
    price_per_kwh: float = 0.0,
) -> Measure:
    """Repair a share of the leaks: the saved flow times the station's specific power (A3)."""
    kwh = leak_flow_m3_min * repaired_share * specific_power_kw_per_m3_min * hours_per_year
    return Measure(
        name=f"repair {repaired_share:.0%} of leaks",
        kwh_per_year=kwh,
        cost_per_year=kwh * price_per_kwh,
        basis=(
            f"{leak_flow_m3_min:.2f} m³/min leaks x {repaired_share:.0%} "
            f"x {specific_power_kw_per_m3_min:.2f} kW/(m³/min) x {hours_per_year:,.0f} h"
        ),
    )


def sequencing_measure(
    current_kwh_per_year: float, plan: SequencingPlan, *, steps_per_year: float, price_per_kwh: float = 0.0
) -> Measure:
    """Central sequencer: current station energy minus the optimal plan's, scaled to a year."""
    planned = plan.energy_kwh * steps_per_year / max(len(plan.steps), 1)
    kwh = current_kwh_per_year - planned
    return Measure(
        name="central sequencer (optimal plan)",
        kwh_per_year=kwh,
        cost_per_year=kwh * price_per_kwh,
        basis=f"current {current_kwh_per_year:,.0f} kWh - planned {planned:,.0f} kWh ({plan.method})",
    )
