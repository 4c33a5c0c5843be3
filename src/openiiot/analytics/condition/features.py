"""Vibration features from acceleration waveforms (domain-methods C3).

Waveforms are acceleration in m/s² (or g; state which with ``g_units``) sampled at ``fs`` Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal, stats

G = 9.80665


def _as_wave(x: ArrayLike, minimum: int = 16) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size < minimum:
        raise ValueError(f"waveform needs at least {minimum} samples, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError("waveform contains NaN or infinite samples")
    return a


@dataclass(frozen=True)
class TimeFeatures:
    rms: float
    peak: float
    peak_to_peak: float
    crest: float
    kurtosis: float  # Pearson (Gaussian = 3)
    skewness: float
    shape: float
    impulse: float
    clearance: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def time_features(x: ArrayLike) -> TimeFeatures:
    """Statistical features of a waveform (mean removed)."""
    a = _as_wave(x)
    a = a - a.mean()
    rms = float(np.sqrt(np.mean(a * a)))
    absx = np.abs(a)
    peak = float(absx.max())
    mean_abs = float(absx.mean())
    sq = float(np.mean(np.sqrt(absx))) ** 2
    tiny = 1e-30
    return TimeFeatures(
        rms=rms,
        peak=peak,
        peak_to_peak=float(a.max() - a.min()),
        crest=peak / (rms + tiny),
        kurtosis=float(stats.kurtosis(a, fisher=False)) if rms > 0 else 0.0,
        skewness=float(stats.skew(a)) if rms > 0 else 0.0,
        shape=rms / (mean_abs + tiny),
        impulse=peak / (mean_abs + tiny),
        clearance=peak / (sq + tiny),
    )


def spectrum(
    x: ArrayLike, fs: float, *, window: str = "hann"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Single-sided amplitude spectrum (peak amplitude of a sinusoid is preserved)."""
    a = _as_wave(x)
    if fs <= 0:
        raise ValueError("sampling rate must be positive")
    a = a - a.mean()
    w = signal.get_window(window, a.size)
    spec = np.abs(np.fft.rfft(a * w)) * 2.0 / float(w.sum())
    freqs = np.fft.rfftfreq(a.size, 1.0 / fs)
    return freqs.astype(np.float64), spec.astype(np.float64)


def velocity_rms(
    x: ArrayLike, fs: float, *, band: tuple[float, float] = (10.0, 1000.0), g_units: bool = False
) -> float:
    """Broadband RMS velocity in mm/s over ``band`` by integration of acceleration in the frequency domain.

    Each FFT bin of acceleration A(f) becomes V(f) = A(f)/(j·2πf); bins outside the band are dropped; the RMS
    follows from Parseval. Input in m/s² (or g with ``g_units``).
    """
    a = _as_wave(x)
    if fs <= 0:
        raise ValueError("sampling rate must be positive")
    lo, hi = band
    if not 0 < lo < hi:
        raise ValueError("band must satisfy 0 < low < high")
    a = a - a.mean()
    if g_units:
        a = a * G
    n = a.size
    spec_a = np.fft.rfft(a)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    sel = (f >= lo) & (f <= min(hi, fs / 2))
    spec_v = np.zeros_like(spec_a)
    spec_v[sel] = spec_a[sel] / (2j * math.pi * f[sel])
    # Parseval on a one-sided spectrum: sum |X|² with doubled non-DC/non-Nyquist bins, divided by n².
    weights = np.full(f.size, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    ms = float(np.sum(weights * np.abs(spec_v) ** 2)) / (n * n)
    return math.sqrt(ms) * 1000.0


def band_energies(x: ArrayLike, fs: float, bands: list[tuple[float, float]]) -> list[float]:
    """Mean-square energy of the waveform in each frequency band (same unit² as the input)."""
    a = _as_wave(x)
    a = a - a.mean()
    n = a.size
    spec_a = np.fft.rfft(a)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    weights = np.full(f.size, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    p = weights * np.abs(spec_a) ** 2 / (n * n)
    out = []
    for lo, hi in bands:
        if not 0 <= lo < hi:
            raise ValueError(f"bad band {lo}-{hi}")
        out.append(float(p[(f >= lo) & (f < hi)].sum()))
    return out


def spectral_entropy(x: ArrayLike, fs: float) -> float:
    """Normalised Shannon entropy of the power spectrum (0 pure tone .. 1 white noise)."""
    _, s = spectrum(x, fs)
    p = s[1:] ** 2
    total = float(p.sum())
    if total <= 0:
        return 0.0
    p = p / total
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(p.size))


@dataclass(frozen=True)
class KurtogramResult:
    center_hz: float
    bandwidth_hz: float
    kurtosis: float
    level: float


def kurtogram_bands(
    fs: float, *, max_level: int = 6, min_bandwidth_hz: float = 50.0
) -> list[tuple[float, float, float]]:
    """The bands of a 1/3-binary-tree kurtogram (Antoni 2007) as (level, low Hz, high Hz).

    At level k the band 0..fs/2 is split into 2^k and 3·2^(k-1) equal bands (k = 1..max_level); bands
    narrower than ``min_bandwidth_hz`` are left out.
    """
    if fs <= 0:
        raise ValueError("sampling rate must be positive")
    nyq = fs / 2
    splits: list[tuple[float, int]] = []
    for k in range(1, max_level + 1):
        splits.append((float(k), 2**k))
        if k >= 2:
            splits.append((k + math.log2(3) - 1, 3 * 2 ** (k - 1)))
    out: list[tuple[float, float, float]] = []
    for level, nb in splits:
        bw = nyq / nb
        if bw >= min_bandwidth_hz:
            out.extend((level, i * bw, (i + 1) * bw) for i in range(nb))
    return out


def band_kurtosis(x: ArrayLike, fs: float, band: tuple[float, float]) -> float:
    """Spectral kurtosis of the waveform's complex envelope in ``band``: about 0 for Gaussian noise, higher
    the more impulsive the band (Antoni 2007). The filter's start and end transients are left out."""
    a = _as_wave(x, minimum=256)
    a = a - a.mean()
    lo, hi = band
    env = _band_envelope(a, fs, lo, hi)
    trim = min(int(4 * fs / (hi - lo)), a.size // 4)
    e = np.abs(env[trim : a.size - trim]) ** 2
    m = float(e.mean())
    if m <= 0:
        return -math.inf
    return float(np.mean(e * e)) / (m * m) - 2.0


def kurtogram(
    x: ArrayLike, fs: float, *, max_level: int = 6, min_bandwidth_hz: float = 50.0
) -> KurtogramResult:
    """Band with the largest spectral kurtosis of its envelope (a 1/3-binary-tree kurtogram, Antoni 2007).

    Each band of `kurtogram_bands` is band-passed with a zero-phase Butterworth filter and the kurtosis of
    its complex envelope is computed (`band_kurtosis`).
    """
    a = _as_wave(x, minimum=256)
    a = a - a.mean()
    nyq = fs / 2
    best = KurtogramResult(nyq / 2, nyq, -math.inf, 0.0)
    for level, lo, hi in kurtogram_bands(fs, max_level=max_level, min_bandwidth_hz=min_bandwidth_hz):
        sk = band_kurtosis(a, fs, (lo, hi))
        if sk > best.kurtosis:
            best = KurtogramResult((lo + hi) / 2, hi - lo, sk, level)
    return best


def _band_envelope(a: NDArray[np.float64], fs: float, lo: float, hi: float) -> NDArray[np.complex128]:
    nyq = fs / 2
    lo_n, hi_n = lo / nyq, hi / nyq
    if lo_n <= 0.001 and hi_n >= 0.999:  # the full band: no filter
        return np.asarray(signal.hilbert(a), dtype=np.complex128)
    if lo_n <= 0.001:
        sos = signal.butter(4, min(hi_n, 0.999), btype="lowpass", output="sos")
    elif hi_n >= 0.999:
        sos = signal.butter(4, lo_n, btype="highpass", output="sos")
    else:
        sos = signal.butter(4, [lo_n, hi_n], btype="bandpass", output="sos")
    y = signal.sosfiltfilt(sos, a)
    return np.asarray(signal.hilbert(y), dtype=np.complex128)


def envelope_spectrum(
    x: ArrayLike,
    fs: float,
    band: tuple[float, float] | None = None,
    *,
    max_freq: float | None = None,
    squared: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[float, float]]:
    """Squared-envelope spectrum of the waveform band-passed to ``band`` (chosen by the kurtogram if None;
    ``(0, fs / 2)`` means the full band, unfiltered). ``squared=False`` gives the spectrum of the envelope
    itself instead of its square.

    Returns frequencies, amplitudes and the band used.
    """
    a = _as_wave(x, minimum=256)
    a = a - a.mean()
    if band is None:
        k = kurtogram(a, fs)
        band = (k.center_hz - k.bandwidth_hz / 2, k.center_hz + k.bandwidth_hz / 2)
    env = np.abs(_band_envelope(a, fs, band[0], band[1]))
    if squared:
        env = env**2
    freqs, amp = spectrum(env, fs)
    if max_freq is not None:
        sel = freqs <= max_freq
        freqs, amp = freqs[sel], amp[sel]
    return freqs, amp, band


def cepstral_prewhiten(x: ArrayLike) -> NDArray[np.float64]:
    """Cepstral pre-whitening (CPW): the waveform with a flat amplitude spectrum and its own phase.

    Setting every real-cepstrum coefficient but the zero-quefrency one to zero leaves a constant log amplitude
    spectrum, exp(mean log |X|); with the original phase this is X / |X| up to that constant (Sawalhi and
    Randall 2011; Borghesani, Pennacchi, Randall, Sawalhi and Ricci, MSSP 36, 2013). Discrete lines and
    resonances lose their weight, while the timing of repeated impacts, which lives in the phase, stays: the
    squared-envelope spectrum of the whole band of the result (`envelope_spectrum` with band (0, fs / 2)) is
    Smith and Randall's "method 2" for bearing diagnosis (MSSP 64-65, 2015). The mean is removed first; bins
    with no energy (below 1e-12 of the largest) stay at zero.
    """
    a = _as_wave(x, minimum=16)
    spec = np.fft.rfft(a - a.mean())
    mag = np.abs(spec)
    live = mag > 1e-12 * float(mag.max())
    live[0] = False  # the mean
    if not live.any():
        raise ValueError("waveform is constant: nothing to whiten")
    level = math.exp(float(np.mean(np.log(mag[live]))))
    white = np.zeros_like(spec)
    white[live] = level * spec[live] / mag[live]
    return np.asarray(np.fft.irfft(white, n=a.size), dtype=np.float64)
