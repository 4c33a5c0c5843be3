"""History for charts: the bucket size for a range, and min/max points from the store's aggregates.

A chart asks the telemetry store for min and max per bucket (served from the 1-minute and 1-hour rollups
on long ranges) with at most MAX_BUCKETS buckets, so a series never carries more than 2 x MAX_BUCKETS
points, whatever the range: min/max decimation keeps every peak and trough a plot would show.
"""

from __future__ import annotations

from collections.abc import Sequence

from openiiot.domain.telemetry import AggregateRow

MAX_BUCKETS = 1000
#: bucket sizes in seconds; multiples of 1 minute and 1 hour let the store read its rollups
STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def bucket_seconds(span_ms: int, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest bucket that splits `span_ms` into at most `max_buckets` buckets."""
    for step in STEPS_S:
        if span_ms <= step * 1000 * max_buckets:
            return step
    return STEPS_S[-1]


def interval_text(step_s: int) -> str:
    """The store's interval notation for a bucket size ('30s', '5m', '1h', '1d')."""
    if step_s % 86400 == 0:
        return f"{step_s // 86400}d"
    if step_s % 3600 == 0:
        return f"{step_s // 3600}h"
    if step_s % 60 == 0:
        return f"{step_s // 60}m"
    return f"{step_s}s"


def minmax_points(rows: Sequence[AggregateRow], step_s: int) -> list[list[float | int]]:
    """Two points per bucket, the minimum then the maximum, at the bucket's start and middle."""
    half_ms = step_s * 500
    points: list[list[float | int]] = []
    for row in rows:
        low, high = row.values.get("min"), row.values.get("max")
        if low is None or high is None:
            continue
        if low == high:
            points.append([row.start_ms, low])
        else:
            points.append([row.start_ms, low])
            points.append([row.start_ms + half_ms, high])
    return points
