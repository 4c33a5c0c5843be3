"""Aggregation buckets in a tenant's time zone: where each bucket starts and ends, in UTC milliseconds.

The rules every telemetry backend follows:
- months: calendar months (n-month buckets count from January 1970), starting at local midnight;
- n whole days (``1d``, ``1w``, ...): local days counted from Monday 1970-01-05, so weeks start on Monday
  (ISO 8601); intervals of a day or longer must be whole days;
- shorter intervals: fixed steps counted from each local midnight, so buckets restart every local day (in
  UTC and whole-hour zones this equals steps from the epoch when the step divides a day).

Two implementations of the same rules live here: `bucket_start_ms` (one instant; simple, used by the
in-memory fake and for bucket ends) and `segments` (a plan for a range that SQL engines apply with an ASOF
join). A property test holds them equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.telemetry import Interval

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# A Monday, so that 7-day buckets are ISO weeks.
_DAY_ORIGIN = date(1970, 1, 5)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ValidationFailed naming the `timezone` field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {name!r}", field="timezone") from exc


def check_interval(interval: Interval) -> None:
    """Reject intervals the bucket rules cannot serve."""
    if interval.months < 0 or interval.ms < 0 or (interval.months == 0 and interval.ms <= 0):
        raise ValidationFailed("interval must be positive", field="interval")
    if interval.months and interval.ms:
        raise ValidationFailed("interval is either months or milliseconds, not both", field="interval")
    if interval.ms >= DAY_MS and interval.ms % DAY_MS:
        raise ValidationFailed("intervals of a day or longer must be whole days", field="interval")


def local_date(ts_ms: int, tz: ZoneInfo) -> date:
    """The local calendar date of an instant."""
    return (_EPOCH + ts_ms * _ONE_MS).astimezone(tz).date()


def local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    """The first instant of a local day (after a gap at midnight, the first instant that exists)."""
    # fold=0 resolves a skipped midnight with the offset before the gap, which lands on the gap's end.
    local = datetime(day.year, day.month, day.day, tzinfo=tz)
    return (local - _EPOCH) // _ONE_MS


def _month_start(day: date, months: int) -> date:
    index = (day.year * 12 + day.month - 1) // months * months
    return date(index // 12, index % 12 + 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def bucket_start_ms(ts_ms: int, interval: Interval, tz: ZoneInfo) -> int:
    """Start (UTC ms) of the bucket holding `ts_ms`."""
    day = local_date(ts_ms, tz)
    if interval.months:
        return local_midnight_ms(_month_start(day, interval.months), tz)
    if interval.ms >= DAY_MS:
        n_days = interval.ms // DAY_MS
        first = _DAY_ORIGIN + timedelta(days=(day - _DAY_ORIGIN).days // n_days * n_days)
        return local_midnight_ms(first, tz)
    midnight = local_midnight_ms(day, tz)
    return midnight + (ts_ms - midnight) // interval.ms * interval.ms


def bucket_end_ms(start_ms: int, interval: Interval, tz: ZoneInfo) -> int:
    """End (UTC ms, exclusive) of the bucket starting at `start_ms`."""
    day = local_date(start_ms, tz)
    if interval.months:
        return local_midnight_ms(_add_months(day, interval.months), tz)
    if interval.ms >= DAY_MS:
        return local_midnight_ms(day + timedelta(days=interval.ms // DAY_MS), tz)
    return min(start_ms + interval.ms, local_midnight_ms(day + timedelta(days=1), tz))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch [lo_ms, hi_ms) of a range whose buckets are `origin_ms + k * step_ms`.

    `natural_end_ms` is where the stretch would end if the range did not cut it (the next local midnight,
    or the end of the calendar bucket).
    """

    lo_ms: int
    hi_ms: int
    origin_ms: int
    step_ms: int
    natural_end_ms: int


def segments(start_ms: int, end_ms: int, interval: Interval, tz: ZoneInfo) -> list[Segment]:
    """Cut [start_ms, end_ms) into segments that tile it; a calendar bucket is one segment of one step."""
    check_interval(interval)
    out: list[Segment] = []
    cur = start_ms
    while cur < end_ms:
        if interval.is_calendar:
            origin = bucket_start_ms(cur, interval, tz)
            natural_end = bucket_end_ms(origin, interval, tz)
            step = natural_end - origin
        else:
            day = local_date(cur, tz)
            origin = local_midnight_ms(day, tz)
            natural_end = local_midnight_ms(day + timedelta(days=1), tz)
            step = interval.ms
        out.append(Segment(cur, min(natural_end, end_ms), origin, step, natural_end))
        cur = natural_end
    return out


def rollup_aligned(plan: list[Segment], granularity_ms: int) -> bool:
    """True when every bucket boundary of the plan is a multiple of `granularity_ms` (a rollup size)."""
    return all(
        s.origin_ms % granularity_ms == 0
        and s.step_ms % granularity_ms == 0
        and s.natural_end_ms % granularity_ms == 0
        for s in plan
    )


def floor_to(ts_ms: int, step_ms: int) -> int:
    """Largest multiple of `step_ms` not after `ts_ms` (also for instants before 1970)."""
    return ts_ms // step_ms * step_ms


def ceil_to(ts_ms: int, step_ms: int) -> int:
    """Smallest multiple of `step_ms` not before `ts_ms`."""
    return -((-ts_ms) // step_ms) * step_ms
