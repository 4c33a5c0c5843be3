"""Exact running sums of a deviation window, so its mean and spread cost O(1) per sample, not O(window).

Every finite float is an integer multiple of 2**-1074, so sum(v) * 2**1074 and sum(v*v) * 2**2148 are exact
Python integers that can be updated as samples enter and leave the window. From them the mean is exactly
`math.fsum(values) / len(values)` (integer true division rounds correctly, as fsum does), and the sum of
squared deviations is known exactly, close enough to the term-by-term float sum to decide almost every
comparison; the rare comparison too close to call is decided by the original O(window) computation.
"""

from __future__ import annotations

import math

_S1 = 1074  # sum(v) is kept scaled by 2**_S1
_S2 = 2 * _S1  # sum(v*v) scaled by 2**_S2
_ONE_S1 = 1 << _S1
_ONE_S2 = 1 << _S2
Q_MIN = 1e-200  # below it underflow in the float formula could matter: decide the original way
Q_MAX = 1e300  # above it the float formula may overflow: decide the original way
RELATIVE_MARGIN = 1e-9  # far above the float formula's rounding error (~1e-15 relative)


class WindowSums:
    """Exact sum and sum of squares of the finite float values of a window, and a count of the others."""

    __slots__ = ("last", "n", "other", "s1", "s2")

    def __init__(self) -> None:
        self.n = 0  # samples in the window (of every kind)
        self.s1 = 0
        self.s2 = 0
        self.other = 0  # samples that are not finite floats: the window is then measured the original way
        self.last: object = None  # the newest sample object, to notice a window changed behind our back

    @classmethod
    def of(cls, window: list[tuple[int, float | str]]) -> WindowSums:
        """The sums of a whole window (after a restart or when they no longer match it)."""
        sums = cls()
        for sample in window:
            sums.add(sample)
        return sums

    def matches(self, window: list[tuple[int, float | str]]) -> bool:
        """True when these sums were kept for exactly this window."""
        return self.n == len(window) and (not window or window[-1] is self.last)

    def copy(self) -> WindowSums:
        """An independent copy (states are copied before evaluation)."""
        other = WindowSums()
        other.n, other.s1, other.s2, other.other, other.last = self.n, self.s1, self.s2, self.other, self.last
        return other

    def add(self, sample: tuple[int, float | str]) -> None:
        """Count a sample appended at the end of the window."""
        self.n += 1
        self.last = sample
        self._account(sample[1], 1)

    def remove(self, sample: tuple[int, float | str]) -> None:
        """Forget a sample dropped from the front of the window."""
        self.n -= 1
        self._account(sample[1], -1)

    def _account(self, value: float | str, sign: int) -> None:
        if type(value) is not float or not math.isfinite(value):
            self.other += sign
            return
        num, den = value.as_integer_ratio()
        exp = den.bit_length() - 1  # den is 2**exp, exp <= 1074
        if sign > 0:
            self.s1 += num << (_S1 - exp)
            self.s2 += (num * num) << (_S2 - 2 * exp)
        else:
            self.s1 -= num << (_S1 - exp)
            self.s2 -= (num * num) << (_S2 - 2 * exp)

    def mean(self) -> float:
        """Exactly `math.fsum(values) / len(values)`; only when `other` is 0 and the window not empty."""
        return (self.s1 / _ONE_S1) / self.n

    def squared_deviations(self, mean: float) -> float:
        """sum((v - mean)**2) computed exactly, then rounded once."""
        a, den = mean.as_integer_ratio()
        b = den.bit_length() - 1
        q = self.s2 - ((a * self.s1) << (_S1 + 1 - b)) + ((self.n * a * a) << (_S2 - 2 * b))
        return q / _ONE_S2

    def drop_before(self, window: list[tuple[int, float | str]], horizon_ms: int) -> None:
        """Drop samples at or before `horizon_ms` from the front of the window, forgetting their values."""
        drop = 0
        while drop < len(window) and window[drop][0] <= horizon_ms:
            self.remove(window[drop])
            drop += 1
        if drop:
            del window[:drop]
