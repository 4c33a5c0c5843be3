"""Health index fused from features (domain-methods C4): 1 = as healthy as the baseline, 0 = failure level.

The fused degradation indicator is the root-mean-square of the standardised feature deviations from the
healthy baseline (a diagonal Mahalanobis distance), optionally signed per feature (only rises count). It is
smoothed with an EWMA and made monotonic with a running maximum, because physical damage does not heal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


@dataclass
class HealthIndex:
    """Fit on a healthy window; ``failure_level`` is the indicator value that means HI = 0."""

    failure_level: float = 6.0
    alpha: float = 0.1  # EWMA smoothing factor
    rising_only: bool = True  # count only feature increases (vibration, temperature, friction rise)
    mean: Array = field(default_factory=lambda: np.zeros(0))
    std: Array = field(default_factory=lambda: np.ones(0))

    def fit(self, healthy: ArrayLike) -> HealthIndex:
        h = np.asarray(healthy, dtype=np.float64)
        if h.ndim == 1:
            h = h[:, None]
        if h.shape[0] < 2 or not np.all(np.isfinite(h)):
            raise ValueError("need at least 2 finite healthy samples")
        if self.failure_level <= 0 or not 0 < self.alpha <= 1:
            raise ValueError("failure_level must be > 0 and alpha in (0, 1]")
        self.mean = h.mean(axis=0)
        sd = h.std(axis=0, ddof=1)
        self.std = np.where(sd > 0, sd, 1.0)
        return self

    def indicator(self, x: ArrayLike) -> Array:
        a = np.asarray(x, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        z = (a - self.mean) / self.std
        if self.rising_only:
            z = np.clip(z, 0, None)
        return np.asarray(np.sqrt(np.mean(z * z, axis=1)), dtype=np.float64)

    def smooth(
        self, raw: ArrayLike, state: tuple[float, float] | None = None
    ) -> tuple[Array, tuple[float, float]]:
        """EWMA then running maximum. ``state`` = (ewma, running max) carries over between calls."""
        r = np.asarray(raw, dtype=np.float64).ravel()
        ewma, peak = state if state is not None else (math.nan, 0.0)
        out = np.empty_like(r)
        for i, v in enumerate(r):
            ewma = v if math.isnan(ewma) else self.alpha * v + (1 - self.alpha) * ewma
            peak = max(peak, ewma)
            out[i] = peak
        return out, (ewma, peak)

    def health(
        self, x: ArrayLike, state: tuple[float, float] | None = None
    ) -> tuple[Array, tuple[float, float]]:
        """Health index in [0, 1], monotonic non-increasing, and the smoothing state to continue with."""
        smoothed, st = self.smooth(self.indicator(x), state)
        return np.asarray(np.clip(1.0 - smoothed / self.failure_level, 0.0, 1.0), dtype=np.float64), st


def monotonicity(series: ArrayLike) -> float:
    """Coble & Hines monotonicity |#positive - #negative differences| / (n - 1), 0..1."""
    d = np.diff(np.asarray(series, dtype=np.float64).ravel())
    if d.size == 0:
        return 0.0
    return float(abs(int(np.sum(d > 0)) - int(np.sum(d < 0))) / d.size)
