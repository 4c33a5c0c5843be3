"""Chart history: bucket sizes keep every series at or under ~2,000 points, and min/max keep the peaks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openiiot.domain.telemetry import AggregateRow
from openiiot.web.fleet import console_status
from openiiot.web.history import MAX_BUCKETS, bucket_seconds, interval_text, minmax_points


@given(st.integers(min_value=1, max_value=400 * 86_400_000))
def test_no_range_gives_more_than_max_buckets(span_ms: int) -> None:
    step = bucket_seconds(span_ms)
    assert span_ms / (step * 1000) <= MAX_BUCKETS or step == 86400


def test_long_ranges_use_rollup_multiples() -> None:
    assert bucket_seconds(30 * 86_400_000) == 3600  # 720 hourly buckets, read from the 1-hour rollup
    assert bucket_seconds(86_400_000) == 120
    assert bucket_seconds(3_600_000) == 5
    assert interval_text(3600) == "1h" and interval_text(120) == "2m" and interval_text(5) == "5s"


def test_minmax_points_keep_extremes_in_time_order() -> None:
    rows = [
        AggregateRow(0, 10, {"min": 1.0, "max": 9.0}),
        AggregateRow(60_000, 10, {"min": 4.0, "max": 4.0}),
        AggregateRow(120_000, 0, {"min": None, "max": None}),
    ]
    points = minmax_points(rows, 60)
    assert points == [[0, 1.0], [30_000, 9.0], [60_000, 4.0]]


def test_console_status_words() -> None:
    assert console_status("active") == "connected"
    assert console_status("connected-inactive") == "inactive"
    assert console_status("disconnected") == "inactive"
    assert console_status("never-seen") == "never-seen"
