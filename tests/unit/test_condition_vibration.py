"""Vibration analytics: reference values from domain-methods.md C1-C3."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from openiiot.analytics.condition import bearing, iso
from openiiot.analytics.condition.features import (
    band_energies,
    band_kurtosis,
    cepstral_prewhiten,
    envelope_spectrum,
    kurtogram,
    kurtogram_bands,
    spectrum,
    time_features,
    velocity_rms,
)


def test_6203_at_1800_rpm_matches_reference() -> None:
    f = bearing.defect_frequencies(bearing.BEARINGS["6203"], 1800)
    assert f.bpfo == pytest.approx(91.6, abs=0.05)
    assert f.bpfi == pytest.approx(148.4, abs=0.05)
    assert f.bsf == pytest.approx(59.8, abs=0.05)
    assert f.ftf == pytest.approx(11.45, abs=0.01)
    assert f.bpfo / f.shaft_hz == pytest.approx(3.05, abs=0.01)


def test_cwru_6205_frequencies_match_published_multiples() -> None:
    # CWRU publishes BPFO 3.5848x, BPFI 5.4152x, BSF 4.7135x (2x), FTF 0.39828x for the 6205 drive end.
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], 60)
    assert f.bpfo == pytest.approx(3.5848, rel=2e-3)
    assert f.bpfi == pytest.approx(5.4152, rel=2e-3)
    assert 2 * f.bsf == pytest.approx(4.7135, rel=3e-3)
    assert f.ftf == pytest.approx(0.39828, rel=2e-3)


def test_bad_geometry_is_rejected() -> None:
    with pytest.raises(ValueError):
        bearing.BearingGeometry(8, 30.0, 28.5)
    with pytest.raises(ValueError):
        bearing.defect_frequencies(bearing.BEARINGS["6203"], 0)


@pytest.mark.parametrize(
    ("group", "foundation", "ab", "bc", "cd"),
    [
        ("group1", "rigid", 2.3, 4.5, 7.1),
        ("group1", "flexible", 3.5, 7.1, 11.0),
        ("group2", "rigid", 1.4, 2.8, 4.5),
        ("group2", "flexible", 2.3, 4.5, 7.1),
    ],
)
def test_iso_zone_boundaries(group: str, foundation: str, ab: float, bc: float, cd: float) -> None:
    assert iso.zone(ab - 0.01, group, foundation) is iso.Zone.A
    assert iso.zone(ab, group, foundation) is iso.Zone.B
    assert iso.zone(bc - 0.01, group, foundation) is iso.Zone.B
    assert iso.zone(bc, group, foundation) is iso.Zone.C
    assert iso.zone(cd, group, foundation) is iso.Zone.D
    levels = iso.alarm_levels(group, foundation)
    assert levels.alarm == bc and levels.trip == pytest.approx(1.25 * cd)


def test_iso_alarm_from_baseline_is_capped() -> None:
    assert iso.alarm_levels("group2", "rigid", baseline_mm_s=1.0).alarm == pytest.approx(1.0 + 0.7)
    assert iso.alarm_levels("group2", "rigid", baseline_mm_s=5.0).alarm == pytest.approx(1.25 * 2.8)
    with pytest.raises(ValueError):
        iso.zone(-1, "group1", "rigid")
    with pytest.raises(ValueError):
        iso.zone(1, "group3", "rigid")


def test_velocity_rms_of_a_sine_by_integration() -> None:
    fs, f0 = 10_000.0, 100.0
    t = np.arange(int(fs)) / fs
    v_peak = 0.005  # m/s -> RMS 3.536 mm/s
    acc = v_peak * 2 * math.pi * f0 * np.cos(2 * math.pi * f0 * t)
    assert velocity_rms(acc, fs) == pytest.approx(v_peak / math.sqrt(2) * 1000, rel=1e-3)
    # A 5 Hz component is outside 10-1000 Hz and must not count.
    low = 0.01 * 2 * math.pi * 5 * np.cos(2 * math.pi * 5 * t)
    assert velocity_rms(acc + low, fs) == pytest.approx(v_peak / math.sqrt(2) * 1000, rel=1e-3)
    assert velocity_rms(acc / 9.80665, fs, g_units=True) == pytest.approx(3.5355, rel=1e-3)


def test_time_features_of_sine_and_noise() -> None:
    t = np.arange(48_000) / 48_000
    s = time_features(np.sin(2 * math.pi * 50 * t))
    assert s.crest == pytest.approx(math.sqrt(2), rel=1e-3)
    assert s.kurtosis == pytest.approx(1.5, rel=1e-2)
    g = time_features(np.random.default_rng(1).normal(size=200_000))
    assert g.kurtosis == pytest.approx(3.0, abs=0.05)
    assert abs(g.skewness) < 0.05
    with pytest.raises(ValueError):
        time_features([1.0, float("nan")] * 10)


def test_spectrum_and_band_energy() -> None:
    fs = 2048.0
    t = np.arange(2048) / fs
    x = 2.0 * np.sin(2 * math.pi * 100 * t) + 1.0 * np.sin(2 * math.pi * 400 * t)
    f, a = spectrum(x, fs)
    assert a[np.argmin(abs(f - 100))] == pytest.approx(2.0, rel=1e-3)
    e = band_energies(x, fs, [(50, 150), (350, 450), (600, 700)])
    assert e[0] == pytest.approx(2.0, rel=1e-2) and e[1] == pytest.approx(0.5, rel=1e-2)
    assert e[2] < 1e-6


def _impulsive_bearing_signal(fs: float, fault_hz: float, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    x = rng.normal(scale=0.3, size=n)
    ring = np.exp(-np.arange(200) / 25) * np.sin(2 * math.pi * 3000 * np.arange(200) / fs)
    for k in np.arange(0, seconds, 1 / fault_hz):
        i = int(k * fs)
        seg = ring[: n - i]
        x[i : i + seg.size] += 3.0 * seg
    x += 1.0 * np.sin(2 * math.pi * 30 * np.arange(n) / fs)  # shaft imbalance, not a bearing fault
    return x


def test_envelope_spectrum_finds_outer_race_fault() -> None:
    fs = 12_000.0
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], 1797)
    x = _impulsive_bearing_signal(fs, f.bpfo, 2.0)
    k = kurtogram(x, fs)
    assert abs(k.center_hz - 3000) < k.bandwidth_hz  # the resonance band is chosen
    fr, amp, band = envelope_spectrum(x, fs, max_freq=1000)
    assert band[0] <= 3000 <= band[1]
    matches = bearing.match_defect_peaks(fr, amp, {"BPFO": f.bpfo, "BPFI": f.bpfi, "BSF2": 2 * f.bsf})
    assert matches[0].name == "BPFO" and matches[0].detected
    assert abs(matches[0].found_hz - f.bpfo) < 2.0
    assert not any(m.detected for m in matches[1:])


def _impacts(fs: float, rate_hz: float, seconds: float, gain: np.ndarray | None = None) -> np.ndarray:
    """Impacts at ``rate_hz`` ringing a 3 kHz resonance, in noise; ``gain`` scales each impact."""
    rng = np.random.default_rng(3)
    n = int(fs * seconds)
    x = rng.normal(scale=0.3, size=n)
    ring = np.exp(-np.arange(200) / 25) * np.sin(2 * math.pi * 3000 * np.arange(200) / fs)
    for j, t in enumerate(np.arange(0, seconds, 1 / rate_hz)):
        i = int(t * fs)
        seg = ring[: n - i]
        x[i : i + seg.size] += 3.0 * (1.0 if gain is None else gain[j]) * seg
    return x


def test_ball_fault_shows_2xbsf_with_cage_sidebands_and_outer_race_fault_none() -> None:
    fs, seconds = 12_000.0, 4.0
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], 1797)
    times = np.arange(0, seconds, 1 / (2 * f.bsf))
    # The defective ball rides with the cage through the load zone: its impacts are modulated at FTF.
    ball = _impacts(fs, 2 * f.bsf, seconds, 0.5 * (1 + np.cos(2 * math.pi * f.ftf * times)))
    fr, amp, _ = envelope_spectrum(ball, fs, (2000, 4000), max_freq=600)
    first = bearing.sideband_lines(fr, amp, 2 * f.bsf, f.ftf)[0]
    assert first.carrier.snr >= 3 and abs(first.carrier.found_hz - 2 * f.bsf) < 1.0
    assert first.lower.snr >= 3 and first.upper.snr >= 3
    assert abs(first.upper.found_hz - first.carrier.found_hz - f.ftf) < 1.0
    # An outer-race defect sits still in the load zone: the same search finds its line but no sidebands.
    outer = _impacts(fs, f.bpfo, seconds)
    fr, amp, _ = envelope_spectrum(outer, fs, (2000, 4000), max_freq=600)
    (still,) = bearing.sideband_lines(fr, amp, f.bpfo, f.shaft_hz, harmonics=1)
    assert still.carrier.snr >= 3
    assert still.lower.snr < 3 and still.upper.snr < 3
    with pytest.raises(ValueError):
        bearing.sideband_lines(fr, amp, f.bpfo, 0.0)
    with pytest.raises(ValueError):
        bearing.sideband_lines(fr[:4], amp[:4], f.bpfo, f.shaft_hz)


def test_band_kurtosis_tells_impacts_from_noise() -> None:
    fs = 12_000.0
    noise = np.random.default_rng(5).normal(size=int(2 * fs))
    assert abs(band_kurtosis(noise, fs, (2000, 4000))) < 0.2  # Gaussian: 0
    impacts = _impacts(fs, 107.4, 2.0)
    at_resonance = band_kurtosis(impacts, fs, (2000, 4000))
    assert at_resonance > 1.0
    # The impacts ring at 3 kHz; a band away from the resonance sees mostly the noise.
    assert band_kurtosis(impacts, fs, (4500, 5500)) < at_resonance / 3
    bands = kurtogram_bands(fs, max_level=4, min_bandwidth_hz=400)
    assert (
        len(bands) == 2 + 4 + 6 + 8 + 12
    )  # levels 1, 2, 2.6, 3, 3.6 (level 4's 375 Hz bands are too narrow)
    assert all(hi - lo >= 400 and 0 <= lo < hi <= fs / 2 for _, lo, hi in bands)


def _masked(x: np.ndarray, fs: float, scale: float) -> np.ndarray:
    """``x`` plus strong random vibration below 500 Hz (``scale`` x the impacts' noise level), as from a
    gearbox or the process, which swamps the full-band envelope."""
    low = signal.sosfilt(
        signal.butter(4, 500 / (fs / 2), output="sos"), np.random.default_rng(8).normal(size=x.size)
    )
    return x + scale * 0.3 * low / low.std()


@pytest.mark.parametrize("family", ["BPFO", "BPFI", "2xBSF"])
def test_cepstral_prewhitening_finds_each_defect_frequency_under_strong_low_frequency_vibration(
    family: str,
) -> None:
    fs, seconds = 12_000.0, 4.0
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], 1797)
    targets = {"BPFO": f.bpfo, "BPFI": f.bpfi, "2xBSF": 2 * f.bsf}
    rate = targets[family]
    times = np.arange(0, seconds, 1 / rate)
    # Inner-race impacts are modulated at shaft speed, a ball's at the cage speed; outer-race ones are not.
    mod = {"BPFO": 0.0, "BPFI": f.shaft_hz, "2xBSF": f.ftf}[family]
    gain = 0.6 + 0.4 * np.cos(2 * math.pi * mod * times)
    x = _masked(_impacts(fs, rate, seconds, gain), fs, 20.0)
    raw = bearing.match_defect_peaks(*envelope_spectrum(x, fs, (0, fs / 2), max_freq=600)[:2], targets)
    assert not any(m.detected for m in raw)  # the full-band envelope of the raw signal shows nothing
    white = cepstral_prewhiten(x)
    fr, amp, band = envelope_spectrum(white, fs, (0, fs / 2), max_freq=600)
    assert band == (0, fs / 2)
    matches = bearing.match_defect_peaks(fr, amp, targets, tolerance=0.01)
    assert matches[0].name == family and matches[0].detected, matches
    # Within 1 % (the search tolerance): impacts on the sample grid smear the line over a few bins.
    assert abs(matches[0].found_hz - rate) < 0.01 * rate
    assert not any(m.detected for m in matches[1:])


def test_cepstral_prewhitening_flattens_the_amplitude_spectrum_and_keeps_the_impact_times() -> None:
    fs = 12_000.0
    f = bearing.defect_frequencies(bearing.BEARINGS["6205"], 1797)
    x = _impacts(fs, f.bpfo, 2.0) + 5.0 * np.sin(2 * math.pi * 1000 * np.arange(int(2 * fs)) / fs)
    white = cepstral_prewhiten(x)
    assert white.shape == x.shape and abs(white.mean()) < 1e-9
    mag = np.abs(np.fft.rfft(white))[1:]
    assert mag.std() / mag.mean() < 1e-9  # only the zero quefrency is left: a flat amplitude spectrum
    # The phase is kept, so each impact still stands out at its own time: the 1 kHz tone is gone from the
    # spectrum but the largest sample of the whitened signal falls within 2 ms of an impact.
    impacts = np.round(np.arange(0, 2.0, 1 / f.bpfo) * fs).astype(int)
    peak = int(np.argmax(np.abs(white)))
    assert np.min(np.abs(impacts - peak)) < 0.002 * fs
    fr, amp, _ = envelope_spectrum(white, fs, (0, fs / 2), max_freq=600)
    assert abs(bearing.line_at(fr, amp, f.bpfo).found_hz - f.bpfo) < 0.5  # type: ignore[union-attr]


def test_cepstral_prewhitening_refuses_what_cannot_be_whitened() -> None:
    with pytest.raises(ValueError, match="constant"):
        cepstral_prewhiten(np.full(1000, 2.5))
    with pytest.raises(ValueError, match="NaN"):
        cepstral_prewhiten(np.array([0.0, 1.0, np.nan] * 10))


def test_full_band_envelope_spectrum_is_unfiltered_and_the_plain_envelope_is_available() -> None:
    fs = 12_000.0
    x = _impacts(fs, 107.4, 1.0)
    _, amp, _ = envelope_spectrum(x, fs, (0, fs / 2))
    _, direct = spectrum(np.abs(signal.hilbert(x - x.mean())) ** 2, fs)
    assert np.allclose(amp, direct)
    _, plain, _ = envelope_spectrum(x, fs, (0, fs / 2), squared=False)
    _, direct = spectrum(np.abs(signal.hilbert(x - x.mean())), fs)
    assert np.allclose(plain, direct)
