"""Consumed life of robot precision reducers from torque/speed histories (domain-methods E3).

Both catalogue life laws are rated life x (rated / actual)^p load-speed scaling, so the life a duty
profile consumes is a linear damage sum (Palmgren-Miner) that can be accumulated sample by sample:

- Strain-wave (Harmonic Drive, wave-generator bearing life, cubic law):
  L_h = L_n x (T_r / T_av)^3 x (n_r / n_av), with T_av = [sum n_i t_i |T_i|^3 / sum n_i t_i]^(1/3) and
  n_av = sum n_i t_i / sum t_i. L_n = L10 7 000 h (CSF) / 10 000 h (CSG) at rated torque and n_r = 2000 r/min
  input speed.
- Cycloidal RV (Nabtesco, 10/3 law): L_h = K x (N0 / N_m) x (T0 / T_m)^(10/3), with
  T_m = [sum t_i N_i |T_i|^(10/3) / sum t_i N_i]^(3/10) and N_m = sum t_i N_i / sum t_i; K = 6 000 h, N0 the
  rated output speed (15 r/min), T0 the rated torque. (Constants flagged "verify against the catalogue" in
  the reference.)

Consumed fraction = operating hours / L_h = sum t_i n_i |T_i|^p / (L x n_rated x T_rated^p) (t in hours).
Samples with zero speed consume nothing (the laws count revolutions under load).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ReducerRating:
    """Rated life (h) at rated torque (N·m) and rated speed (r/min), and the life exponent."""

    rated_life_h: float
    rated_torque_nm: float
    rated_speed_rpm: float
    exponent: float

    def __post_init__(self) -> None:
        if min(self.rated_life_h, self.rated_torque_nm, self.rated_speed_rpm, self.exponent) <= 0:
            raise ValueError("ratings and exponent must be positive")


def harmonic_drive(
    rated_torque_nm: float, *, series: str = "CSF", rated_speed_rpm: float = 2000.0
) -> ReducerRating:
    """Strain-wave gear: L10 7 000 h (CSF) / 10 000 h (CSG) at rated torque, 2000 r/min input, cubic law."""
    life = {"CSF": 7000.0, "CSG": 10000.0}[series.upper()]
    return ReducerRating(life, rated_torque_nm, rated_speed_rpm, 3.0)


def rv_reducer(
    rated_torque_nm: float, *, rated_speed_rpm: float = 15.0, k_h: float = 6000.0
) -> ReducerRating:
    """Nabtesco RV: K = 6 000 h at rated torque and 15 r/min output, 10/3 law."""
    return ReducerRating(k_h, rated_torque_nm, rated_speed_rpm, 10.0 / 3.0)


@dataclass(frozen=True)
class LifeUse:
    hours: float  # operating time of the history
    mean_speed_rpm: float  # n_av / N_m
    equivalent_torque_nm: float  # T_av / T_m
    life_h: float  # catalogue life at this duty (inf when idle)
    consumed: float  # fraction of the rated life used by this history

    @property
    def remaining_h(self) -> float:
        """Hours left at the same duty."""
        return max(0.0, 1.0 - self.consumed) * self.life_h


def life_use(rating: ReducerRating, torque_nm: ArrayLike, speed_rpm: ArrayLike, dt_s: ArrayLike) -> LifeUse:
    """Equivalent torque, mean speed, life and consumed fraction for samples held for ``dt_s`` each.

    Speed sign (direction) is ignored: both directions wear the reducer.
    """
    t = np.abs(np.asarray(torque_nm, dtype=np.float64).ravel())
    n = np.abs(np.asarray(speed_rpm, dtype=np.float64).ravel())
    dt = np.broadcast_to(np.asarray(dt_s, dtype=np.float64), t.shape).astype(np.float64) / 3600.0
    if t.shape != n.shape or t.size == 0:
        raise ValueError("torque and speed need the same, non-zero length")
    if np.any(dt < 0) or not (np.all(np.isfinite(t)) and np.all(np.isfinite(n))):
        raise ValueError("durations must be non-negative and values finite")
    p = rating.exponent
    hours = float(dt.sum())
    revs = float(np.sum(n * dt))  # r/min x h
    if hours <= 0:
        raise ValueError("the history has no duration")
    mean_speed = revs / hours
    damage = float(np.sum(n * dt * t**p))
    eq_torque = (damage / revs) ** (1 / p) if revs > 0 else 0.0
    consumed = damage / (rating.rated_life_h * rating.rated_speed_rpm * rating.rated_torque_nm**p)
    life = hours / consumed if consumed > 0 else float("inf")
    return LifeUse(hours, mean_speed, eq_torque, life, consumed)
