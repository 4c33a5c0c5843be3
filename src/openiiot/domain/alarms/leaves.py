"""Arithmetic of the leaves: comparisons with deadband, bounded windows, rate of change, deviation."""

from __future__ import annotations

import math
from typing import TypeVar

from openiiot.domain.alarms.baseline import Q_MAX, Q_MIN, RELATIVE_MARGIN, WindowSums
from openiiot.domain.alarms.conditions import Deviation, Op, RatePer, Threshold, Value, compare
from openiiot.domain.alarms.conditions import Range as RangeCond
from openiiot.domain.alarms.state import MAX_WINDOW_SAMPLES

_T = TypeVar("_T")


def leaf_holds(node: Threshold | RangeCond, value: Value, deadband: float, polarity: int) -> bool:
    """A comparison leaf on one value; polarity ±1 shifts the bounds by the deadband (hysteresis)."""
    shift = deadband * polarity
    if isinstance(node, Threshold):
        if isinstance(value, str) or isinstance(node.value, str) or shift == 0:
            return compare(node.op, value, node.value)
        x, v = value, node.value
        if node.op in (Op.GT, Op.GE):
            return compare(node.op, x, v - shift)
        if node.op in (Op.LT, Op.LE):
            return compare(node.op, x, v + shift)
        if node.op is Op.EQ:
            return abs(x - v) <= shift if shift > 0 else x == v
        return abs(x - v) > -shift if shift < 0 else x != v
    if isinstance(value, str):
        return False
    if node.inside:
        return node.lo - shift <= value <= node.hi + shift
    return value < node.lo + shift or value > node.hi - shift


def append_bounded(items: list[_T], item: _T) -> None:
    items.append(item)
    if len(items) > MAX_WINDOW_SAMPLES:
        del items[0]


def drop_before(window: list[tuple[int, Value]], horizon_ms: int) -> None:
    """Drop samples at or before `horizon_ms`: a window of W s at t holds samples in (t - W, t]."""
    drop = 0
    while drop < len(window) and window[drop][0] <= horizon_ms:
        drop += 1
    if drop:
        del window[:drop]


def rate_of(window: list[tuple[int, Value]], per: RatePer) -> float | None:
    if len(window) < 2:
        return None
    (t0, v0), (t1, v1) = window[0], window[-1]
    if t1 == t0 or isinstance(v0, str) or isinstance(v1, str):
        return None
    per_s = (v1 - v0) / ((t1 - t0) / 1000)
    return per_s * 60 if per is RatePer.MINUTE else per_s


def deviates(node: Deviation, window: list[tuple[int, Value]], value: float) -> bool:
    """|x - mean| > sigma * s (sample standard deviation) or > abs_dev, against the preceding window."""
    values = [v for _, v in window if not isinstance(v, str)]
    if len(values) < node.min_samples:
        return False
    mean = math.fsum(values) / len(values)
    deviation = abs(value - mean)
    if node.abs_dev is not None:
        return deviation > node.abs_dev
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return deviation > (node.sigma or 0.0) * std


def deviates_running(
    node: Deviation, window: list[tuple[int, Value]], sums: WindowSums, value: float
) -> bool:
    """`deviates`, in O(1) from the window's exact running sums; the same verdict, always.

    The mean is exactly the one `deviates` computes; the standard deviation is within ~1e-15 of it, so only
    a sample within `RELATIVE_MARGIN` of the limit (or a window of extreme values) needs `deviates` itself.
    """
    if sums.other or not sums.matches(window):
        return deviates(node, window, value)
    if sums.n < node.min_samples:
        return False
    if sums.n < 2:
        return deviates(node, window, value)
    mean = sums.mean()
    deviation = abs(value - mean)
    if node.abs_dev is not None:
        return deviation > node.abs_dev
    q = sums.squared_deviations(mean)
    if not Q_MIN <= q <= Q_MAX:
        return deviates(node, window, value)
    limit = (node.sigma or 0.0) * math.sqrt(q / (sums.n - 1))
    margin = abs(limit) * RELATIVE_MARGIN
    if deviation > limit + margin:
        return True
    if deviation < limit - margin:
        return False
    return deviates(node, window, value)
