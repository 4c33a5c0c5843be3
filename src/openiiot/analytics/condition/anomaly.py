"""Anomaly detection trained on a declared healthy window (domain-methods C4).

Every detector follows the same life cycle: ``fit(healthy)`` on a window the user declares healthy, then
``score(x)`` gives a score per sample and ``threshold`` is the score above which a sample is anomalous.
The threshold is set from the false-alarm budget: the (1 - budget) quantile of the scores on the healthy
window, times a safety factor (>= 1). A budget of 1 % therefore means about one false alarm per 100
healthy samples on data like the training window (fewer with the safety factor; more if the machine drifts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

Array = NDArray[np.float64]


def _matrix(x: ArrayLike) -> Array:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError("expected a non-empty 2-D array (samples x features)")
    if not np.all(np.isfinite(a)):
        raise ValueError("input contains NaN or infinite values")
    return a


def _threshold(scores: Array, budget: float, safety: float) -> float:
    if not 0 < budget < 1:
        raise ValueError("false-alarm budget must be in (0, 1)")
    return float(np.quantile(scores, 1 - budget)) * safety


@dataclass
class RobustZ:
    """Largest absolute robust z-score over features: |x - median| / (1.4826 MAD)."""

    budget: float = 0.01
    safety: float = 1.0
    median: Array = field(default_factory=lambda: np.zeros(0))
    scale: Array = field(default_factory=lambda: np.zeros(0))
    threshold: float = math.inf

    def fit(self, healthy: ArrayLike) -> RobustZ:
        h = _matrix(healthy)
        self.median = np.median(h, axis=0)
        mad = np.median(np.abs(h - self.median), axis=0) * 1.4826
        std = h.std(axis=0)
        self.scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        self.threshold = _threshold(self.score(h), self.budget, self.safety)
        return self

    def score(self, x: ArrayLike) -> Array:
        a = _matrix(x)
        return np.asarray(np.max(np.abs(a - self.median) / self.scale, axis=1), dtype=np.float64)


@dataclass
class Ewma:
    """Univariate EWMA control chart; score = |EWMA - mean| in units of the EWMA's asymptotic sigma."""

    lam: float = 0.2
    budget: float = 0.01
    safety: float = 1.0
    mean: float = 0.0
    sigma: float = 1.0
    threshold: float = math.inf

    def fit(self, healthy: ArrayLike) -> Ewma:
        h = np.asarray(healthy, dtype=np.float64).ravel()
        if h.size < 2:
            raise ValueError("need at least 2 healthy samples")
        self.mean = float(h.mean())
        self.sigma = float(h.std(ddof=1)) or 1.0
        self.threshold = _threshold(self.score(h), self.budget, self.safety)
        return self

    def score(self, x: ArrayLike, state: float | None = None) -> Array:
        a = np.asarray(x, dtype=np.float64).ravel()
        z = self.mean if state is None else state
        out = np.empty_like(a)
        s = self.sigma * math.sqrt(self.lam / (2 - self.lam))
        for i, v in enumerate(a):
            z = self.lam * v + (1 - self.lam) * z
            out[i] = abs(z - self.mean) / s
        return out


@dataclass
class Cusum:
    """Two-sided tabular CUSUM with slack k (in sigmas); score = max(C+, C-) in sigmas."""

    k: float = 0.5
    budget: float = 0.01
    safety: float = 1.0
    mean: float = 0.0
    sigma: float = 1.0
    threshold: float = math.inf

    def fit(self, healthy: ArrayLike) -> Cusum:
        h = np.asarray(healthy, dtype=np.float64).ravel()
        if h.size < 2:
            raise ValueError("need at least 2 healthy samples")
        self.mean = float(h.mean())
        self.sigma = float(h.std(ddof=1)) or 1.0
        self.threshold = _threshold(self.score(h), self.budget, self.safety)
        return self

    def score(self, x: ArrayLike) -> Array:
        a = (np.asarray(x, dtype=np.float64).ravel() - self.mean) / self.sigma
        hi = lo = 0.0
        out = np.empty_like(a)
        for i, z in enumerate(a):
            hi = max(0.0, hi + z - self.k)
            lo = max(0.0, lo - z - self.k)
            out[i] = max(hi, lo)
        return out


@dataclass
class PcaT2Q:
    """Hotelling T² and Q (squared prediction error) on a PCA of the standardised healthy window.

    Components keep ``variance`` of the healthy variance. Limits: T² from the F distribution and Q from
    the Jackson-Mudholkar approximation at confidence 1 - budget. ``score`` returns max(T²/T²lim, Q/Qlim),
    so the threshold is 1 x safety.
    """

    variance: float = 0.9
    budget: float = 0.01
    safety: float = 1.0
    mean: Array = field(default_factory=lambda: np.zeros(0))
    std: Array = field(default_factory=lambda: np.ones(0))
    loadings: Array = field(default_factory=lambda: np.zeros((0, 0)))
    eigvals: Array = field(default_factory=lambda: np.zeros(0))
    t2_limit: float = math.inf
    q_limit: float = math.inf
    threshold: float = math.inf

    def fit(self, healthy: ArrayLike) -> PcaT2Q:
        h = _matrix(healthy)
        n, m = h.shape
        if n <= m + 1:
            raise ValueError("need more healthy samples than features + 1")
        self.mean = h.mean(axis=0)
        sd = h.std(axis=0, ddof=1)
        self.std = np.where(sd > 0, sd, 1.0)
        z = (h - self.mean) / self.std
        cov = np.cov(z, rowvar=False)
        w, v = np.linalg.eigh(np.atleast_2d(cov))
        order = np.argsort(w)[::-1]
        w, v = np.clip(w[order], 0, None), v[:, order]
        frac = np.cumsum(w) / max(float(w.sum()), 1e-300)
        a = int(min(m, np.searchsorted(frac, self.variance) + 1))
        self.loadings, self.eigvals = v[:, :a], np.maximum(w[:a], 1e-12)
        alpha = self.budget
        self.t2_limit = float(a * (n - 1) * (n + 1) / (n * (n - a)) * stats.f.ppf(1 - alpha, a, n - a))
        rest = w[a:]
        if rest.size == 0 or rest.sum() <= 1e-12:
            self.q_limit = math.inf
        else:
            t1, t2, t3 = (float(np.sum(rest**p)) for p in (1, 2, 3))
            h0 = 1 - 2 * t1 * t3 / (3 * t2 * t2)
            c = float(stats.norm.ppf(1 - alpha))
            self.q_limit = t1 * (
                c * math.sqrt(2 * t2 * h0 * h0) / t1 + 1 + t2 * h0 * (h0 - 1) / (t1 * t1)
            ) ** (1 / h0)
        self.threshold = self.safety
        return self

    def t2_q(self, x: ArrayLike) -> tuple[Array, Array]:
        z = (_matrix(x) - self.mean) / self.std
        t = z @ self.loadings
        t2 = np.sum(t * t / self.eigvals, axis=1)
        resid = z - t @ self.loadings.T
        q = np.sum(resid * resid, axis=1)
        return np.asarray(t2, dtype=np.float64), np.asarray(q, dtype=np.float64)

    def score(self, x: ArrayLike) -> Array:
        t2, q = self.t2_q(x)
        return np.asarray(np.maximum(t2 / self.t2_limit, q / self.q_limit), dtype=np.float64)


@dataclass
class IsolationForestDetector:
    """scikit-learn IsolationForest on standardised features; score = -score_samples (higher = odder)."""

    n_estimators: int = 200
    budget: float = 0.01
    safety: float = 1.0
    seed: int = 0
    mean: Array = field(default_factory=lambda: np.zeros(0))
    std: Array = field(default_factory=lambda: np.ones(0))
    threshold: float = math.inf
    model: Any = None

    def fit(self, healthy: ArrayLike) -> IsolationForestDetector:
        from sklearn.ensemble import IsolationForest

        h = _matrix(healthy)
        self.mean = h.mean(axis=0)
        sd = h.std(axis=0)
        self.std = np.where(sd > 0, sd, 1.0)
        self.model = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed)
        self.model.fit((h - self.mean) / self.std)
        self.threshold = _threshold(self.score(h), self.budget, self.safety)
        return self

    def score(self, x: ArrayLike) -> Array:
        if self.model is None:
            raise RuntimeError("fit the detector on a healthy window first")
        z = (_matrix(x) - self.mean) / self.std
        return np.asarray(-self.model.score_samples(z), dtype=np.float64)


def debounce(alarm: NDArray[np.bool_], on: int = 1, off: int = 1) -> NDArray[np.bool_]:
    """Raise after ``on`` consecutive alarming samples, clear after ``off`` consecutive normal ones."""
    out = np.zeros(alarm.size, dtype=bool)
    state, run_on, run_off = False, 0, 0
    for i, a in enumerate(alarm):
        if a:
            run_on, run_off = run_on + 1, 0
        else:
            run_on, run_off = 0, run_off + 1
        if not state and run_on >= on:
            state = True
        elif state and run_off >= off:
            state = False
        out[i] = state
    return out


@dataclass
class WindowPca:
    """A linear autoencoder on short multivariate windows: PCA of the standardised healthy windows.

    Each window of ``window`` consecutive samples of all features (standardised on the healthy window) is
    flattened, projected on the principal components that keep ``variance`` of the healthy variance, and
    reconstructed; the window's score is its mean absolute reconstruction error. Unlike T²/Q on single
    samples it learns the short-term dynamics (how the signals move together over the window), the way the
    convolutional autoencoder of the SKAB benchmark does, without a deep-learning dependency.

    ``threshold`` = (1 - budget) quantile of the healthy windows' scores x safety (the SKAB reference
    notebooks use the 99 % quantile x 3/2). ``window_scores`` gives one score per window, aligned at the
    window's last sample (causal: usable online). ``score`` gives one score per sample, the largest score
    of the windows that contain it (retrospective: looks up to window - 1 samples ahead), so that a sample
    is anomalous when any window containing it is.
    """

    window: int = 15
    variance: float = 0.8
    budget: float = 0.01
    safety: float = 1.5
    mean: Array = field(default_factory=lambda: np.zeros(0))
    std: Array = field(default_factory=lambda: np.ones(0))
    center: Array = field(default_factory=lambda: np.zeros(0))
    components: Array = field(default_factory=lambda: np.zeros((0, 0)))
    threshold: float = math.inf

    def _windows(self, x: ArrayLike) -> Array:
        z = (_matrix(x) - self.mean) / self.std
        if z.shape[0] < self.window:
            raise ValueError(f"need at least {self.window} samples")
        w = np.lib.stride_tricks.sliding_window_view(z, (self.window, z.shape[1]))[:, 0]
        return np.asarray(w.reshape(w.shape[0], -1), dtype=np.float64)

    def fit(self, healthy: ArrayLike) -> WindowPca:
        h = _matrix(healthy)
        if self.window < 1 or not 0 < self.variance <= 1:
            raise ValueError("window must be >= 1 and variance in (0, 1]")
        if h.shape[0] < self.window + 2:
            raise ValueError("need more healthy samples than the window length + 1")
        self.mean = h.mean(axis=0)
        sd = h.std(axis=0)
        self.std = np.where(sd > 0, sd, 1.0)
        w = self._windows(h)
        self.center = w.mean(axis=0)
        wc = w - self.center
        var, vecs = np.linalg.eigh(wc.T @ wc)  # cheaper than an SVD of the windows themselves
        order = np.argsort(var)[::-1]
        var, vecs = np.clip(var[order], 0, None), vecs[:, order]
        frac = np.cumsum(var) / max(float(var.sum()), 1e-300)
        k = int(min(var.size, np.searchsorted(frac, self.variance - 1e-12) + 1))
        self.components = np.ascontiguousarray(vecs[:, :k].T)
        self.threshold = _threshold(self.window_scores(h)[self.window - 1 :], self.budget, self.safety)
        return self

    def window_scores(self, x: ArrayLike) -> Array:
        """Score of the window ending at each sample (NaN for the first window - 1 samples)."""
        w = self._windows(x) - self.center
        recon = (w @ self.components.T) @ self.components
        r = np.mean(np.abs(w - recon), axis=1)
        return np.concatenate([np.full(self.window - 1, np.nan), r])

    def score(self, x: ArrayLike) -> Array:
        r = self.window_scores(x)[self.window - 1 :]
        n, w = r.size + self.window - 1, self.window
        padded = np.concatenate([np.full(w - 1, -np.inf), r, np.full(w - 1, -np.inf)])
        # sample i lies in the windows starting at i - w + 1 .. i: r[i - w + 1 .. i]
        view = np.lib.stride_tricks.sliding_window_view(padded, w)
        return np.asarray(view[:n].max(axis=1), dtype=np.float64)
