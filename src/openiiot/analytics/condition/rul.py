"""Remaining useful life (domain-methods C4): exponential degradation with Bayesian updating, and
similarity to a run-to-failure library. Both return a median and an uncertainty band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class RulEstimate:
    median: float
    low: float  # lower bound of the band (e.g. 5th percentile)
    high: float  # upper bound (e.g. 95th percentile)


@dataclass
class ExponentialDegradation:
    """S(t) = phi + theta·exp(beta·t + eps), eps ~ N(0, sigma²) (Gebraeel et al. 2006).

    ln(S - phi) = ln(theta) + beta·t + eps is linear in (ln theta, beta); a Gaussian prior on the two
    parameters (learned from a fleet with ``fit_prior`` or given) is updated in closed form with every
    observation of the machine. RUL is the time until S reaches ``threshold``; its band comes from sampling
    the posterior. The level at which machines fail varies from unit to unit: ``threshold_sd_log`` is its
    spread, the standard deviation of ln(threshold - phi) over failed units; each posterior draw then meets
    its own threshold. Late in life this, not the fit, is the main uncertainty.
    """

    threshold: float
    phi: float = 0.0
    prior_mean: Array = field(default_factory=lambda: np.array([0.0, 0.01]))
    prior_cov: Array = field(default_factory=lambda: np.diag([1.0, 1e-3]))
    noise_var: float = 0.01
    band: tuple[float, float] = (5.0, 95.0)
    max_rul: float = 1e6
    threshold_sd_log: float = 0.0

    def fit_prior(self, runs: Sequence[tuple[ArrayLike, ArrayLike]]) -> ExponentialDegradation:
        """Learn the prior from run-to-failure (times, signal) pairs of similar machines."""
        params, resid = [], []
        for t, s in runs:
            tt = np.asarray(t, dtype=np.float64)
            y = np.log(np.clip(np.asarray(s, dtype=np.float64) - self.phi, 1e-12, None))
            x = np.column_stack([np.ones_like(tt), tt])
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            params.append(coef)
            resid.append(y - x @ coef)
        if len(params) < 2:
            raise ValueError("need at least two run-to-failure histories for a prior")
        p = np.array(params)
        self.prior_mean = p.mean(axis=0)
        self.prior_cov = np.cov(p, rowvar=False) + np.diag([1e-9, 1e-12])
        self.noise_var = float(np.var(np.concatenate(resid))) or 1e-6
        return self

    def posterior(self, t: ArrayLike, s: ArrayLike) -> tuple[Array, Array]:
        tt = np.asarray(t, dtype=np.float64).ravel()
        y = np.log(np.clip(np.asarray(s, dtype=np.float64).ravel() - self.phi, 1e-12, None))
        x = np.column_stack([np.ones_like(tt), tt])
        p0 = np.linalg.inv(self.prior_cov)
        prec = p0 + x.T @ x / self.noise_var
        cov = np.asarray(np.linalg.inv(prec), dtype=np.float64)
        mean = cov @ (p0 @ self.prior_mean + x.T @ y / self.noise_var)
        return mean, cov

    def predict(self, t: ArrayLike, s: ArrayLike, *, samples: int = 2000, seed: int = 0) -> RulEstimate:
        tt = np.asarray(t, dtype=np.float64).ravel()
        if tt.size == 0:
            raise ValueError("need at least one observation")
        now = float(tt[-1])
        mean, cov = self.posterior(tt, s)
        if self.threshold <= self.phi:
            raise ValueError("threshold must lie above phi")
        if self.threshold_sd_log < 0:
            raise ValueError("threshold_sd_log must not be negative")
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(mean, cov, size=samples)
        target = math.log(self.threshold - self.phi) + self.threshold_sd_log * rng.standard_normal(samples)
        ln_theta, beta = draws[:, 0], draws[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            tf = np.where(beta > 0, (target - ln_theta) / beta, np.inf)
        rul = np.clip(tf - now, 0.0, self.max_rul)
        lo, hi = np.percentile(rul, self.band)
        return RulEstimate(float(np.median(rul)), float(lo), float(hi))


@dataclass
class SimilarityRul:
    """RUL from the k run-to-failure histories whose health-index curve best matches the recent window.

    Each library curve is a health indicator per cycle up to failure. The last ``window`` points of the
    machine are slid along every library curve; the best offset gives a distance (mean squared difference)
    and a RUL (cycles left in that curve). The estimate is the distance-weighted median of the k nearest; the
    band spans their spread (min..max of the k, or given percentiles).
    """

    window: int = 30
    k: int = 10
    max_rul: float = math.inf
    library: list[Array] = field(default_factory=list)

    def fit(self, runs: Sequence[ArrayLike]) -> SimilarityRul:
        self.library = [np.asarray(r, dtype=np.float64).ravel() for r in runs]
        if len(self.library) < self.k:
            raise ValueError(f"library needs at least k={self.k} run-to-failure curves")
        return self

    def predict(self, recent: ArrayLike, *, band: tuple[float, float] = (10.0, 90.0)) -> RulEstimate:
        q = np.asarray(recent, dtype=np.float64).ravel()
        if q.size == 0:
            raise ValueError("need at least one observation")
        w = min(self.window, q.size)
        q = q[-w:]
        age = np.asarray(recent).size
        dists, ruls = [], []
        for curve in self.library:
            if curve.size < w:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(curve, w)
            d = np.mean((windows - q) ** 2, axis=1)
            # Prefer alignments near the machine's own age (cycles since start): a weak penalty.
            ends = np.arange(w, curve.size + 1)
            d = d + 1e-6 * ((ends - age) / max(curve.size, 1)) ** 2
            j = int(np.argmin(d))
            dists.append(float(d[j]))
            ruls.append(float(curve.size - (j + w)))
        if not dists:
            raise ValueError("no library curve is as long as the window")
        order = np.argsort(dists)[: self.k]
        r = np.array(ruls)[order]
        wts = 1.0 / (np.array(dists)[order] + 1e-9)
        srt = np.argsort(r)
        cum = np.cumsum(wts[srt]) / wts.sum()
        med = float(r[srt][np.searchsorted(cum, 0.5)])
        lo, hi = np.percentile(r, band)
        cap = self.max_rul
        return RulEstimate(min(med, cap), min(float(lo), cap), min(float(hi), cap))


def phm08_score(estimated: ArrayLike, true: ArrayLike) -> float:
    """PHM08 score: sum of exp(-d/13) - 1 for d < 0 and exp(d/10) - 1 for d >= 0, d = estimate - true."""
    d = np.asarray(estimated, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1)))


def rmse(estimated: ArrayLike, true: ArrayLike) -> float:
    d = np.asarray(estimated, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))
