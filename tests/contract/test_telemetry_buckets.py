"""The two implementations of the bucket rules (per instant, and per range for SQL) agree everywhere."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from openiiot.domain.telemetry import Interval
from openiiot.storage.telemetry.buckets import bucket_end_ms, bucket_start_ms, local_date, segments, zone

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/New_York",  # DST at 02:00
    "America/Sao_Paulo",  # DST used to start at midnight: some local days had no 00:00
    "Australia/Lord_Howe",  # 30-minute DST shift
]
INTERVALS = [
    Interval(ms=1000),
    Interval(ms=7000),
    Interval(ms=60_000),
    Interval(ms=15 * 60_000),
    Interval(ms=3_600_000),
    Interval(ms=7 * 3_600_000),  # does not divide a day: buckets restart at local midnight
    Interval(ms=86_400_000),
    Interval(ms=7 * 86_400_000),
    Interval(months=1),
    Interval(months=3),
]
YEAR_MS = 365 * 86_400_000
# 1950 .. 2100, around the instants where zones changed rules
_instants = st.integers(-20 * YEAR_MS, 130 * YEAR_MS)


@settings(max_examples=400, deadline=None)
@given(ts=_instants, interval=st.sampled_from(INTERVALS), name=st.sampled_from(ZONES))
def test_a_bucket_holds_its_instant_and_is_stable(ts: int, interval: Interval, name: str) -> None:
    tz = zone(name)
    start = bucket_start_ms(ts, interval, tz)
    end = bucket_end_ms(start, interval, tz)
    assert start <= ts < end
    assert bucket_start_ms(start, interval, tz) == start
    assert bucket_start_ms(end, interval, tz) == end  # buckets tile time without gaps
    if interval.is_calendar:
        assert local_date(start, tz) != local_date(start - 1, tz)  # starts at a local midnight


@settings(max_examples=300, deadline=None)
@given(
    start=_instants,
    length=st.integers(1, 40 * 86_400_000),
    probes=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=20),
    interval=st.sampled_from(INTERVALS),
    name=st.sampled_from(ZONES),
)
def test_segments_assign_the_same_buckets(
    start: int, length: int, probes: list[float], interval: Interval, name: str
) -> None:
    tz = zone(name)
    plan = segments(start, start + length, interval, tz)
    assert plan[0].lo_ms == start and plan[-1].hi_ms == start + length
    assert all(a.hi_ms == b.lo_ms for a, b in itertools.pairwise(plan))
    for probe in probes:
        ts = start + int(probe * length)
        seg = next(s for s in plan if s.lo_ms <= ts < s.hi_ms)
        assert seg.origin_ms + (ts - seg.origin_ms) // seg.step_ms * seg.step_ms == bucket_start_ms(
            ts, interval, tz
        )
