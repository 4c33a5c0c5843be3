"""Alarm-management KPIs after ISA-18.2-2016 §16 (Table 5 performance metrics) and EEMUA 191.

All functions are pure and take plain `AlarmRecord`s. They count annunciated alarms only: a record with
`suppressed=True` (asset in maintenance) was never presented to an operator and is ignored, as ISA-18.2's
rate metrics count alarms annunciated to the operator. An "alarm" is one raise (a re-raise after clear is a
new alarm; escalations of an open alarm are not counted again). Time windows are half-open: a window of W ms
ending at t holds the alarms raised in (t - W, t]; fixed periods are [start + k·P, start + (k+1)·P).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openiiot.domain.errors import ValidationFailed

TEN_MIN_MS = 600_000
DAY_MS = 86_400_000
FLOOD_THRESHOLD = 10  # ISA-18.2 Table 5: "more than 10 alarms per 10 minutes" marks a flood
CHATTER_WINDOW_MS = 60_000
CHATTER_MIN_RAISES = 3


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One alarm as the KPIs need it; `group` is whatever the caller groups by (tenant, site, operator)."""

    alarm_id: str
    rule_id: str
    originator_id: str
    raised_ms: int
    cleared_ms: int | None = None
    acknowledged_ms: int | None = None
    group: str = ""
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class AlarmRate:
    """Alarm rate of one group over [start, end)."""

    group: str
    alarm_count: int
    periods: int  # 10-minute periods in the range (the last one may be partial)
    average_per_10min: float  # ISA-18.2 target ~1, "maximum manageable" ~2
    peak_per_10min: int  # most alarms in one fixed period; ISA-18.2 target <= 10
    peak_period_start_ms: int | None
    periods_over_flood: int  # fixed periods with > 10 alarms; ISA-18.2 target < ~1 % of periods


@dataclass(frozen=True, slots=True)
class FloodPeriod:
    """A maximal interval during which the alarms of the last 10 minutes numbered more than the threshold."""

    start_ms: int  # the raise that pushed the 10-minute count over the threshold
    end_ms: int  # when the count fell back to the threshold as old alarms left the window
    alarm_count: int  # alarms raised in (start - window, end): the ones that built the flood and those in it
    peak_count: int  # the highest 10-minute count during the flood


@dataclass(frozen=True, slots=True)
class ChatteringAlarm:
    """One (rule, originator) that raised at least `min_raises` times within one window."""

    rule_id: str
    originator_id: str
    max_raises_in_window: int
    first_window_start_ms: int  # the first raise of the first chattering window
    total_raises: int


class ActorBy(StrEnum):
    """What a bad-actor ranking groups by."""

    RULE = "rule"
    ORIGINATOR = "originator"
    RULE_AND_ORIGINATOR = "rule_and_originator"


@dataclass(frozen=True, slots=True)
class BadActor:
    """One of the most frequent alarms and its share of all alarms in the input."""

    rule_id: str | None
    originator_id: str | None
    count: int
    share: float  # of all annunciated alarms; ISA-18.2 wants the top 10 together at ~1-5 %


def _annunciated(records: Iterable[AlarmRecord]) -> list[AlarmRecord]:
    return [r for r in records if not r.suppressed]


def alarm_rates(
    records: Iterable[AlarmRecord], start_ms: int, end_ms: int, period_ms: int = TEN_MIN_MS
) -> dict[str, AlarmRate]:
    """Average and peak alarms per 10 minutes per group over [start, end) (ISA-18.2 Table 5 rate metrics).

    The average is alarms / (range length / 10 min), so a partial last period counts by its length; the
    peak and the flood count use fixed periods aligned to `start_ms`. Groups without alarms are absent.
    """
    if end_ms <= start_ms or period_ms <= 0:
        raise ValidationFailed("the range must be non-empty and the period positive", field="end_ms")
    buckets: dict[str, Counter[int]] = defaultdict(Counter)
    for r in _annunciated(records):
        if start_ms <= r.raised_ms < end_ms:
            buckets[r.group][(r.raised_ms - start_ms) // period_ms] += 1
    periods = math.ceil((end_ms - start_ms) / period_ms)
    span_periods = (end_ms - start_ms) / period_ms
    rates: dict[str, AlarmRate] = {}
    for group, counts in sorted(buckets.items()):
        total = sum(counts.values())
        peak_index, peak = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
        rates[group] = AlarmRate(
            group=group,
            alarm_count=total,
            periods=periods,
            average_per_10min=total / span_periods,
            peak_per_10min=peak,
            peak_period_start_ms=start_ms + peak_index * period_ms,
            periods_over_flood=sum(1 for c in counts.values() if c > FLOOD_THRESHOLD),
        )
    return rates


def flood_periods(
    records: Iterable[AlarmRecord], threshold: int = FLOOD_THRESHOLD, window_ms: int = TEN_MIN_MS
) -> list[FloodPeriod]:
    """Alarm floods: intervals where a sliding 10-minute window holds more than `threshold` alarms.

    ISA-18.2 calls > 10 alarms per 10 minutes (per operator) a flood; a sliding window finds floods that
    straddle fixed period boundaries. Pass the records of one operator position (group) at a time.
    """
    times = sorted(r.raised_ms for r in _annunciated(records))
    floods: list[FloodPeriod] = []
    arrive = leave = count = peak = 0
    start: int | None = None
    while arrive < len(times) or leave < arrive:
        next_arrival = times[arrive] if arrive < len(times) else math.inf
        next_departure = times[leave] + window_ms if leave < arrive else math.inf
        if next_departure <= next_arrival:  # at equal instants the old alarm leaves first: (t - W, t]
            count, leave = count - 1, leave + 1
            if start is not None and count <= threshold:
                end = times[leave - 1] + window_ms
                n = bisect_left(times, end) - bisect_right(times, start - window_ms)
                floods.append(FloodPeriod(start, end, n, peak))
                start = None
        else:
            count, arrive = count + 1, arrive + 1
            if start is None and count > threshold:
                start, peak = times[arrive - 1], count
            peak = max(peak, count)
    return floods


def standing_alarms(
    records: Iterable[AlarmRecord], at_ms: int, min_age_ms: int = DAY_MS
) -> list[AlarmRecord]:
    """Alarms active at `at_ms` that have been active for at least `min_age_ms` (default 24 h).

    EEMUA 191 counts every alarm active at an instant as standing; ISA-18.2's example for "an extended
    period" is 24 h, which is the default here. Pass min_age_ms=0 for EEMUA's count.
    """
    return [
        r
        for r in _annunciated(records)
        if r.raised_ms <= at_ms - min_age_ms and (r.cleared_ms is None or r.cleared_ms > at_ms)
    ]


def stale_alarms(records: Iterable[AlarmRecord], at_ms: int, min_age_ms: int = DAY_MS) -> list[AlarmRecord]:
    """Standing alarms (active >= 24 h) that nobody has acknowledged by `at_ms`.

    ISA-18.2 defines a stale alarm as one that remains annunciated for an extended period (e.g. 24 h) and
    targets fewer than 5 on any day; we read "remains annunciated" as active and still unacknowledged.
    """
    return [
        r
        for r in standing_alarms(records, at_ms, min_age_ms)
        if r.acknowledged_ms is None or r.acknowledged_ms > at_ms
    ]


def chattering_alarms(
    records: Iterable[AlarmRecord],
    window_ms: int = CHATTER_WINDOW_MS,
    min_raises: int = CHATTER_MIN_RAISES,
) -> list[ChatteringAlarm]:
    """(rule, originator) pairs raised at least 3 times within 1 minute.

    ISA-18.2 defines chattering as repeated transitions between alarm and normal in a short time and wants
    none; "3 or more occurrences within 1 minute" is the usual rule of thumb (Hollifield & Habibi, The
    Alarm Management Handbook; ISA-TR18.2.5). "Within" means the raises span less than `window_ms`.
    """
    by_alarm: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in _annunciated(records):
        by_alarm[(r.rule_id, r.originator_id)].append(r.raised_ms)
    found: list[ChatteringAlarm] = []
    for (rule_id, originator_id), raises in sorted(by_alarm.items()):
        raises.sort()
        best, first = _densest_window(raises, window_ms)
        if best >= min_raises:
            found.append(ChatteringAlarm(rule_id, originator_id, best, first, len(raises)))
    return found


def _densest_window(times: Sequence[int], window_ms: int) -> tuple[int, int]:
    """Most raises in any [t_i, t_i + window), and the first t_i reaching that count."""
    best, first, j = 0, times[0], 0
    for i, t in enumerate(times):
        j = max(j, i)
        while j + 1 < len(times) and times[j + 1] < t + window_ms:
            j += 1
        if j - i + 1 > best:
            best, first = j - i + 1, t
    return best, first


def bad_actors(
    records: Iterable[AlarmRecord], top: int = 10, by: ActorBy = ActorBy.RULE_AND_ORIGINATOR
) -> list[BadActor]:
    """The `top` most frequent alarms and each one's share of all alarms (ISA-18.2 Table 5 "top 10").

    Ties are broken by id so the ranking is deterministic.
    """
    alarms = _annunciated(records)
    counts: Counter[tuple[str | None, str | None]] = Counter(
        (
            None if by is ActorBy.ORIGINATOR else r.rule_id,
            None if by is ActorBy.RULE else r.originator_id,
        )
        for r in alarms
    )
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or ""))
    return [BadActor(rule, orig, n, n / len(alarms)) for (rule, orig), n in ranked[:top]]
