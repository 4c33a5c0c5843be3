"""Rolling-bearing defect frequencies (domain-methods C2) and detection of their peaks in a spectrum."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class BearingGeometry:
    """Geometry of a rolling-element bearing.

    n_elements: number of rolling elements; ball_diameter_mm (d) and pitch_diameter_mm (D) in the same unit;
    contact_angle_deg (phi), 0 for deep-groove ball bearings.
    """

    n_elements: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.n_elements < 3:
            raise ValueError("a bearing needs at least 3 rolling elements")
        if not 0 < self.ball_diameter_mm < self.pitch_diameter_mm:
            raise ValueError("need 0 < ball diameter < pitch diameter")
        if not 0 <= self.contact_angle_deg < 90:
            raise ValueError("contact angle must be in [0, 90) degrees")


# Common bearings (SKF catalogue geometry as used by the CWRU bearing data centre).
BEARINGS: dict[str, BearingGeometry] = {
    "6203": BearingGeometry(8, 6.747, 28.5),
    "6205": BearingGeometry(9, 7.938, 39.04),  # CWRU drive end (0.3126 in / 1.537 in)
    "6203-2RS": BearingGeometry(8, 6.747, 28.5),
}


@dataclass(frozen=True)
class DefectFrequencies:
    """Defect frequencies in Hz for a given shaft speed."""

    shaft_hz: float
    bpfo: float
    bpfi: float
    bsf: float
    ftf: float

    def as_dict(self) -> dict[str, float]:
        return {"BPFO": self.bpfo, "BPFI": self.bpfi, "BSF": self.bsf, "FTF": self.ftf}


def defect_frequencies(geometry: BearingGeometry, shaft_rpm: float) -> DefectFrequencies:
    """BPFO, BPFI, BSF and FTF from geometry and shaft speed (outer race stationary)."""
    if shaft_rpm <= 0:
        raise ValueError("shaft speed must be positive")
    fr = shaft_rpm / 60.0
    ratio = (
        geometry.ball_diameter_mm
        / geometry.pitch_diameter_mm
        * math.cos(math.radians(geometry.contact_angle_deg))
    )
    n = geometry.n_elements
    return DefectFrequencies(
        shaft_hz=fr,
        bpfo=n / 2 * fr * (1 - ratio),
        bpfi=n / 2 * fr * (1 + ratio),
        bsf=geometry.pitch_diameter_mm / (2 * geometry.ball_diameter_mm) * fr * (1 - ratio**2),
        ftf=fr / 2 * (1 - ratio),
    )


@dataclass(frozen=True)
class PeakMatch:
    """How strongly a defect frequency and its harmonics stand out of a spectrum."""

    name: str
    expected_hz: float
    found_hz: float  # frequency of the strongest bin near the first harmonic
    harmonics_found: int  # how many of the checked harmonics stand above the noise floor
    prominence: float  # mean of (harmonic amplitude / local median) over checked harmonics

    @property
    def detected(self) -> bool:
        return self.harmonics_found >= 2 and self.prominence >= 3.0


@dataclass(frozen=True)
class Line:
    """The strongest bin of a spectrum near an expected frequency, against the local noise floor."""

    expected_hz: float
    found_hz: float
    amplitude: float
    floor: float  # median amplitude of the neighbourhood outside the search window

    @property
    def snr(self) -> float:
        return self.amplitude / self.floor


def line_at(
    freqs: NDArray[np.float64], amplitude: NDArray[np.float64], f0: float, *, tolerance: float = 0.03
) -> Line | None:
    """The largest amplitude within f0 ± tolerance·f0 (at least one bin), and the median of a neighbourhood
    12 times wider, without the window, as the local floor. None when f0 is outside the spectrum."""
    df = float(freqs[1] - freqs[0])
    half = max(df, tolerance * f0)
    sel = (freqs >= f0 - half) & (freqs <= f0 + half)
    wide = (freqs >= f0 - 12 * half - 5 * df) & (freqs <= f0 + 12 * half + 5 * df) & ~sel
    if not sel.any() or not wide.any() or f0 > freqs[-1]:
        return None
    idx = np.flatnonzero(sel)
    best = int(idx[np.argmax(amplitude[idx])])
    floor = float(np.median(amplitude[wide])) + 1e-30
    return Line(f0, float(freqs[best]), float(amplitude[best]), floor)


def _check_spectrum(freqs: NDArray[np.float64], amplitude: NDArray[np.float64]) -> None:
    if freqs.shape != amplitude.shape or freqs.size < 8:
        raise ValueError("freqs and amplitude must have the same length (at least 8 bins)")


def match_defect_peaks(
    freqs: NDArray[np.float64],
    amplitude: NDArray[np.float64],
    targets: dict[str, float],
    *,
    harmonics: int = 3,
    tolerance: float = 0.03,
    floor_hz: float = 10.0,
    threshold: float = 3.0,
) -> list[PeakMatch]:
    """Score each target frequency (and its harmonics) against a spectrum.

    Around k·f (±tolerance relative, at least one bin) the largest amplitude is compared with the median of a
    wider neighbourhood (the local noise floor, `line_at`). A harmonic counts as found when it is
    ``threshold`` times the floor. Results are sorted best first (harmonics found, then prominence).
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    _check_spectrum(freqs, amplitude)
    out: list[PeakMatch] = []
    for name, f0 in targets.items():
        found = 0
        ratios: list[float] = []
        found_hz = float("nan")
        for k in range(1, harmonics + 1):
            if k * f0 < floor_hz:
                continue
            line = line_at(freqs, amplitude, k * f0, tolerance=tolerance)
            if line is None:
                continue
            ratios.append(line.snr)
            if k == 1:
                found_hz = line.found_hz
            if line.snr >= threshold:
                found += 1
        prominence = float(np.mean(ratios)) if ratios else 0.0
        out.append(PeakMatch(name, f0, found_hz, found, prominence))
    out.sort(key=lambda m: (m.harmonics_found, m.prominence), reverse=True)
    return out


@dataclass(frozen=True)
class SidebandTriplet:
    """A harmonic k·f of a defect frequency and its first sidebands k·f ± s (s: the modulation frequency)."""

    harmonic: int
    lower: Line
    carrier: Line
    upper: Line


def sideband_lines(
    freqs: NDArray[np.float64],
    amplitude: NDArray[np.float64],
    carrier_hz: float,
    spacing_hz: float,
    *,
    harmonics: int = 2,
    tolerance: float = 0.01,
) -> list[SidebandTriplet]:
    """Lines at k·carrier and k·carrier ± spacing for k = 1..harmonics (Randall & Antoni 2011, section 2).

    A defect that passes through the load zone is amplitude-modulated at that passage rate: an inner-race
    defect at the shaft speed (sidebands at ±f_r around BPFI), a rolling-element defect at the cage speed
    (sidebands at ±FTF around 2xBSF). An outer-race defect is stationary and gives none. The search windows
    are ± tolerance of the carrier harmonic, but never wider than a third of the spacing, so that a sideband
    window does not reach the carrier.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    amplitude = np.asarray(amplitude, dtype=np.float64)
    _check_spectrum(freqs, amplitude)
    if carrier_hz <= 0 or spacing_hz <= 0:
        raise ValueError("carrier and spacing must be positive")
    out = []
    for k in range(1, harmonics + 1):
        fk = k * carrier_hz
        tol = min(tolerance, spacing_hz / 3 / fk)
        lines = [line_at(freqs, amplitude, fk + d * spacing_hz, tolerance=tol) for d in (-1, 0, 1)]
        lower, carrier, upper = lines
        if lower is None or carrier is None or upper is None:
            break
        out.append(SidebandTriplet(k, lower, carrier, upper))
    return out
