"""Streaming condition monitoring of one machine: features of each waveform burst, anomaly score, health
index and RUL, trained on a declared healthy window (the pure core of services.condition_jobs).

Per burst (acceleration waveform at ``fs`` with the shaft speed it was captured at) the features are:
velocity RMS 10-1000 Hz (mm/s), acceleration RMS, high-frequency RMS (the band where bearing impacts ring),
crest factor, kurtosis, and the prominence of BPFO and BPFI in the envelope spectrum (peak over local noise
floor, mean over 3 harmonics; 1 = nothing there, >= 3 = a defect line). Summary values reported next to the
burst (temperature rise, RMS current...) join the feature vector under their own key.

- anomaly score: Hotelling T² and Q on a PCA of the healthy window, as max(T²/limit, Q/limit), divided by the
  (1 - budget) quantile of held-out healthy scores when that exceeds 1; 1.0 is the threshold at the
  false-alarm budget (per burst).
- health index: per symptom group (bearing, mechanical, thermal) a `HealthIndex` on the group's features
  (rising deviations only, EWMA, running maximum), each feature's spread floored at ``rel_floor`` of its
  healthy median so that very steady features do not swamp the others; 1 = healthy, 0 = at the group's
  failure level. The machine's health index is the worst group's.
- RUL: once a group's smoothed indicator passes ``detect_fraction`` of its failure level (and twice its
  largest value over the healthy window, so that noise does not start a degradation), an exponential
  degradation model with Bayesian updating (`ExponentialDegradation`) extrapolates it to the failure level;
  the machine's RUL is the shortest group's, median and 5-95 % band, in hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from openiiot.analytics.condition.anomaly import PcaT2Q
from openiiot.analytics.condition.bearing import BEARINGS, defect_frequencies, match_defect_peaks
from openiiot.analytics.condition.features import (
    band_energies,
    kurtogram,
    velocity_rms,
)
from openiiot.analytics.condition.health import HealthIndex
from openiiot.analytics.condition.iso import zone
from openiiot.analytics.condition.rul import ExponentialDegradation

WAVE_FEATURES = ("velocity_rms", "accel_rms", "hf_rms", "crest", "kurtosis", "env_bpfo", "env_bpfi")
_ZONE_NUMBER = {"A": 1.0, "B": 2.0, "C": 3.0, "D": 4.0}


def _envelope_spectrum_fft(
    x: np.ndarray, fs: float, band: tuple[float, float], max_freq: float
) -> tuple[np.ndarray, np.ndarray]:
    """Squared-envelope spectrum with the band selected in the frequency domain (an ideal band-pass and
    the analytic signal from the same FFT): the same quantity as `features.envelope_spectrum` with a fixed
    band, about ten times cheaper (no filter design, no filtfilt)."""
    n = x.size
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(n, 1.0 / fs)
    keep = (f >= band[0]) & (f <= band[1])
    analytic = np.zeros(n, dtype=np.complex128)
    analytic[keep] = 2.0 * spec[keep]
    env = np.abs(np.fft.ifft(analytic)) ** 2
    env -= env.mean()
    w = np.hanning(n)
    amp = np.abs(np.fft.rfft(env * w)) * 2.0 / float(w.sum())
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    sel = freqs <= max_freq
    return freqs[sel], amp[sel]


def burst_features(
    wave: ArrayLike,
    fs: float,
    rpm: float | None,
    *,
    bearing: str | None = None,
    band: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Features of one acceleration burst (m/s²). ``band`` is the envelope/high-frequency band; None picks it
    by the kurtogram (much costlier). Without a bearing or a speed the envelope features are 1 (no line)."""
    x = np.asarray(wave, dtype=np.float64).ravel()
    if x.size < 256 or not np.all(np.isfinite(x)):
        raise ValueError("a burst needs at least 256 finite samples")
    x = x - x.mean()
    if band is None:
        k = kurtogram(x, fs)
        band = (max(1.0, k.center_hz - k.bandwidth_hz / 2), min(fs / 2, k.center_hz + k.bandwidth_hz / 2))
    ms = float(np.mean(x * x))
    rms = math.sqrt(ms)
    m4 = float(np.mean(x**4))
    hf = band_energies(x, fs, [band])[0]
    out = {
        "velocity_rms": velocity_rms(x, fs),
        "accel_rms": rms,
        "hf_rms": math.sqrt(hf),
        "crest": float(np.max(np.abs(x))) / rms if rms > 0 else 0.0,
        "kurtosis": m4 / (ms * ms) if ms > 0 else 0.0,  # Pearson, Gaussian = 3
        "env_bpfo": 1.0,
        "env_bpfi": 1.0,
    }
    if bearing is not None and rpm is not None and rpm > 0:
        freqs = defect_frequencies(BEARINGS[bearing], rpm).as_dict()
        targets = {"BPFO": freqs["BPFO"], "BPFI": freqs["BPFI"]}
        f, a = _envelope_spectrum_fft(x, fs, band, min(fs / 2, 4.5 * max(targets.values())))
        for m in match_defect_peaks(f, a, targets):
            out["env_" + m.name.lower()] = max(m.prominence, 0.0)
    return out


# Symptom groups: each has its own health index and failure level (fused indicator at which it reaches 0).
# The default levels were calibrated on the simulator's run-to-failure fleet
# (evaluation/eval_condition_sim.py); set them from your own failed units when you have them.
DEFAULT_GROUPS: dict[str, tuple[tuple[str, ...], float]] = {
    "bearing": (("hf_rms", "accel_rms", "kurtosis", "env_bpfo", "env_bpfi"), 250.0),
    "mechanical": (("velocity_rms", "current_rms_a"), 20.0),
    "thermal": (("temp_rise_c",), 20.0),
}


@dataclass
class MonitorSettings:
    """Tuning of one machine's monitor (see docs/condition-monitoring.md)."""

    features: tuple[str, ...] = WAVE_FEATURES
    groups: dict[str, tuple[tuple[str, ...], float]] = field(default_factory=lambda: dict(DEFAULT_GROUPS))
    budget: float = 0.01  # false-alarm budget per burst of the anomaly score
    safety: float = 1.0  # multiplies the anomaly threshold learned from the budget
    detect_fraction: float = 0.1  # a group's RUL is estimated once its indicator passes this share of failure
    noise_margin: float = 2.0  # ... and this multiple of the indicator's largest value in the healthy window
    alpha: float = 0.3  # EWMA factor of the health index
    rel_floor: float = 0.05  # a feature's spread is at least this share of its healthy median
    prior_growth: float = 4.0  # prior: ln(failure/detect level) is covered in `prior_life_h` / this factor
    prior_life_h: float = 240.0  # prior time from detection to failure, hours
    max_rul_h: float = 24 * 365.0
    # Per group: spread (standard deviation of ln) of the indicator at failure over failed units; widens the
    # RUL band by the uncertainty of the failure level itself. Missing: 0 (the level is taken as exact).
    failure_spread_log: Mapping[str, float] = field(default_factory=dict)
    machine_group: str = "group2"
    foundation: str = "rigid"


@dataclass
class MonitorState:
    """What carries over between updates (rebuilt from stored telemetry after a restart)."""

    hi: dict[str, tuple[float, float] | None] = field(default_factory=dict)  # per group (ewma, running max)
    degradation: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (hours, smoothed)
    last_ts_ms: int | None = None


@dataclass
class _Group:
    name: str
    columns: list[int]
    health: HealthIndex
    detect: float  # smoothed indicator from which the group's RUL is estimated


class ConditionMonitor:
    """Fit on healthy rows (feature dicts), then ``update`` with each new row in time order."""

    def __init__(self, settings: MonitorSettings | None = None) -> None:
        self.settings = settings or MonitorSettings()
        self.detector = PcaT2Q(budget=self.settings.budget, safety=self.settings.safety)
        self.groups: list[_Group] = []
        self.score_scale = 1.0
        self.state = MonitorState()
        self.fitted = False

    def _matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([[float(r[k]) for k in self.settings.features] for r in rows], dtype=np.float64)

    def fit(self, healthy: Sequence[Mapping[str, float]]) -> ConditionMonitor:
        """Train on the healthy window; needs more rows than features + 1."""
        s = self.settings
        h = self._matrix(healthy)
        # T²/Q limits assume Gaussian features and a large healthy window; crest factor and kurtosis are
        # skewed and windows are small, so scores on unseen healthy data run higher than the limits say. The
        # limit is raised to the (1 - budget) quantile of held-out scores (fit on every other row, score the
        # rest) when that is higher; then the detector is refitted on the whole window.
        self.score_scale = 1.0
        if h.shape[0] >= 2 * (h.shape[1] + 2):
            half = PcaT2Q(budget=s.budget, safety=s.safety).fit(h[0::2])
            held_out = half.score(h[1::2])
            self.score_scale = max(1.0, float(np.quantile(held_out, 1.0 - s.budget)))
        self.detector.fit(h)
        self.groups = []
        for name, (keys, failure) in s.groups.items():
            cols = [s.features.index(k) for k in keys if k in s.features]
            if not cols:
                continue
            hi = HealthIndex(failure_level=failure, alpha=s.alpha).fit(h[:, cols])
            floor = s.rel_floor * np.abs(np.median(h[:, cols], axis=0))
            hi.std = np.maximum(hi.std, np.where(floor > 0, floor, 1.0))
            healthy_peak = float(hi.smooth(hi.indicator(h[:, cols]))[0].max())
            detect = max(s.detect_fraction * failure, s.noise_margin * healthy_peak)
            self.groups.append(_Group(name, cols, hi, min(detect, 0.9 * failure)))
        self.state = MonitorState()
        self.fitted = True
        return self

    def update(self, ts_ms: int, row: Mapping[str, float]) -> dict[str, float]:
        """Derived values of one row: anomaly score, health index (worst group), ISO zone, RUL."""
        if not self.fitted:
            raise RuntimeError("fit the monitor on a healthy window first")
        s = self.settings
        x = self._matrix([row])
        out = {"anomaly_score": float(self.detector.score(x)[0]) / self.score_scale}
        t_h = ts_ms / 3_600_000.0
        worst = 1.0
        ruls: list[tuple[float, float, float]] = []
        for g in self.groups:
            hi_arr, st = g.health.health(x[:, g.columns], self.state.hi.get(g.name))
            self.state.hi[g.name] = st
            out["hi_" + g.name] = float(hi_arr[0])
            out["ind_" + g.name] = float(st[1])  # smoothed, monotonic indicator: calibrates failure levels
            worst = min(worst, float(hi_arr[0]))
            smoothed = st[1]
            if smoothed >= g.detect:
                pts = self.state.degradation.setdefault(g.name, [])
                pts.append((t_h, smoothed))
                spread = float(s.failure_spread_log.get(g.name, 0.0))
                est = self._rul(pts, g.detect, g.health.failure_level, spread)
                if est is not None:
                    ruls.append(est)
        out["health_index"] = worst
        if "velocity_rms" in row:
            iso = zone(float(row["velocity_rms"]), s.machine_group, s.foundation)
            out["iso_zone"] = _ZONE_NUMBER[iso.value]
        if ruls:
            out["rul_h"], out["rul_low_h"], out["rul_high_h"] = min(ruls)
        self.state.last_ts_ms = ts_ms
        return out

    def _rul(
        self, pts: list[tuple[float, float]], detect: float, failure: float, spread: float = 0.0
    ) -> tuple[float, float, float] | None:
        """(median, low, high) hours until the group's indicator reaches ``failure``, or None (< 3 points)."""
        s = self.settings
        if len(pts) < 3:
            return None
        if pts[-1][1] >= failure and spread == 0:
            return (0.0, 0.0, 0.0)
        t0 = pts[0][0]
        t = np.array([p[0] - t0 for p in pts])
        y = np.array([p[1] for p in pts])
        beta = math.log(failure / detect) / s.prior_life_h
        model = ExponentialDegradation(
            threshold=failure,
            prior_mean=np.array([math.log(detect), beta]),
            prior_cov=np.diag([0.25, beta**2]),
            noise_var=0.01,
            max_rul=s.max_rul_h,
            threshold_sd_log=spread,
        )
        est = model.predict(t, y, samples=500)
        return (est.median, est.low, est.high)
