"""Waveform bursts as telemetry text values (the store keeps numbers or text, never arrays).

A burst is sent as one text value ``"i16;fs=<Hz>;scale=<unit per count>;<base64>"``: the samples are
quantised to signed 16-bit integers (little endian) with ``scale`` chosen from the burst's peak, so the
quantisation step is peak/32767 (about -90 dB of the peak). 2,048 samples take about 5.5 kB of text, well
under the default 64 kB payload limit. The decoder refuses anything else with ``ValueError``.
"""

from __future__ import annotations

import base64
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

PREFIX = "i16"
_FULL_SCALE = 32767


def encode_waveform(x: ArrayLike, fs: float) -> str:
    """Text value of a waveform sampled at ``fs`` Hz (finite samples, any unit)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("a waveform needs finite samples")
    if not (fs > 0 and math.isfinite(fs)):
        raise ValueError("sampling rate must be positive")
    peak = float(np.max(np.abs(a)))
    scale = peak / _FULL_SCALE if peak > 0 else 1.0
    counts = np.round(a / scale).astype("<i2")
    data = base64.b64encode(counts.tobytes()).decode("ascii")
    return f"{PREFIX};fs={fs:g};scale={scale:.9g};{data}"


def decode_waveform(text: str) -> tuple[NDArray[np.float64], float]:
    """Samples and sampling rate of a text value written by ``encode_waveform``."""
    parts = text.split(";", 3)
    if len(parts) != 4 or parts[0] != PREFIX:
        raise ValueError("not an i16 waveform value")
    try:
        fields = dict(p.split("=", 1) for p in parts[1:3])
        fs, scale = float(fields["fs"]), float(fields["scale"])
        raw = base64.b64decode(parts[3], validate=True)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"malformed waveform value: {exc}") from exc
    if len(raw) % 2 or not (fs > 0 and math.isfinite(fs) and math.isfinite(scale)):
        raise ValueError("malformed waveform value")
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) * scale, fs
