"""ISA-18.2 alarm KPIs on hand-computed examples."""

from __future__ import annotations

from typing import Any

import pytest

from openiiot.analytics.alarm_kpis import (
    ActorBy,
    AlarmRecord,
    BadActor,
    ChatteringAlarm,
    FloodPeriod,
    alarm_rates,
    bad_actors,
    chattering_alarms,
    flood_periods,
    stale_alarms,
    standing_alarms,
)
from openiiot.domain.errors import ValidationFailed

S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000


def _rec(raised_ms: int, rule: str = "r1", orig: str = "d1", **kw: Any) -> AlarmRecord:
    return AlarmRecord(f"a{raised_ms}-{rule}-{orig}", rule, orig, raised_ms, **kw)


def _every(start_s: int, step_s: int, n: int, **kw: Any) -> list[AlarmRecord]:
    return [_rec((start_s + i * step_s) * S, **kw) for i in range(n)]


def test_rates_per_ten_minutes_average_and_peak_per_group() -> None:
    site_a = [_rec(t * MIN, group="site-a") for t in (0, 1, 2, 12, 13, 25)]
    site_b = _every(20 * 60, 30, 12, group="site-b")  # 12 alarms between 20:00 and 25:30
    noise = [_rec(5 * MIN, group="site-a", suppressed=True), _rec(31 * MIN, group="site-a")]
    rates = alarm_rates(site_a + site_b + noise, start_ms=0, end_ms=30 * MIN)
    a, b = rates["site-a"], rates["site-b"]
    assert (a.alarm_count, a.periods, a.average_per_10min, a.peak_per_10min) == (6, 3, 2.0, 3)
    assert (a.peak_period_start_ms, a.periods_over_flood) == (0, 0)
    assert (b.alarm_count, b.average_per_10min, b.peak_per_10min) == (12, 4.0, 12)
    assert (b.peak_period_start_ms, b.periods_over_flood) == (20 * MIN, 1)


def test_rates_refuse_an_empty_range() -> None:
    with pytest.raises(ValidationFailed):
        alarm_rates([], 10, 10)


def test_a_flood_starts_at_the_eleventh_alarm_in_ten_minutes_and_ends_when_they_age_out() -> None:
    # 12 alarms every 30 s from t=0: the 11th (t=300 s) makes 11 in (t-600 s, t]; the alarm of 0 s leaves at
    # 600 s (11 left), the one of 30 s at 630 s (10 left): the flood ends there
    assert flood_periods(_every(0, 30, 12)) == [FloodPeriod(300 * S, 630 * S, 12, 12)]


def test_ten_alarms_in_ten_minutes_are_not_a_flood() -> None:
    assert flood_periods(_every(0, 30, 10)) == []
    assert flood_periods(_every(0, 60, 11)) == []  # 0 s and 600 s are exactly 10 min apart: never 11 at once


def test_a_flood_across_a_period_boundary_is_found() -> None:
    records = _every(540, 10, 12)  # 6 alarms in each fixed period, 12 within 2 minutes
    assert alarm_rates(records, 0, 20 * MIN)[""].periods_over_flood == 0
    assert flood_periods(records) == [FloodPeriod(640 * S, 1150 * S, 12, 12)]


def test_two_separate_floods() -> None:
    records = _every(0, 10, 11) + _every(3600, 10, 15)
    floods = flood_periods(records)
    assert [(f.start_ms, f.alarm_count, f.peak_count) for f in floods] == [
        (100 * S, 11, 11),
        (3700 * S, 15, 15),
    ]
    assert floods[0].end_ms == 600 * S  # the first alarm leaves and the count falls to 10


def test_standing_and_stale_alarms_at_an_instant() -> None:
    at = 3 * DAY
    records = [
        _rec(0, orig="old-unacked"),
        _rec(0, orig="old-acked", acknowledged_ms=H),
        _rec(at - 24 * H, orig="exactly-a-day"),
        _rec(at - 12 * H, orig="young"),
        _rec(0, orig="cleared", cleared_ms=DAY),
        _rec(0, orig="cleared-later", cleared_ms=at + 1),
        _rec(0, orig="maintenance", suppressed=True),
    ]
    standing = {r.originator_id for r in standing_alarms(records, at)}
    assert standing == {"old-unacked", "old-acked", "exactly-a-day", "cleared-later"}
    assert {r.originator_id for r in stale_alarms(records, at)} == {
        "old-unacked",
        "exactly-a-day",
        "cleared-later",
    }
    assert len(standing_alarms(records, at, min_age_ms=0)) == 5  # EEMUA 191: every active alarm


def test_chattering_is_three_raises_within_one_minute() -> None:
    records = [
        *(_rec(t * S, "r1", "d1") for t in (0, 20, 40)),
        *(_rec(t * S, "r1", "d2") for t in (0, 30, 60)),  # spans a full minute: not "within"
        *(_rec(t * S, "r2", "d1") for t in (100, 110, 120, 125, 300)),
    ]
    assert chattering_alarms(records) == [
        ChatteringAlarm("r1", "d1", 3, 0, 3),
        ChatteringAlarm("r2", "d1", 4, 100 * S, 5),
    ]


def test_bad_actors_rank_by_count_with_their_share() -> None:
    records = (
        [_rec(i, "r1", "d1") for i in range(5)]
        + [_rec(i, "r1", "d2") for i in range(3)]
        + [_rec(i, "r2", "d1") for i in range(2)]
    )
    assert bad_actors(records, top=2) == [BadActor("r1", "d1", 5, 0.5), BadActor("r1", "d2", 3, 0.3)]
    assert bad_actors(records, by=ActorBy.RULE) == [
        BadActor("r1", None, 8, 0.8),
        BadActor("r2", None, 2, 0.2),
    ]
    assert bad_actors(records, by=ActorBy.ORIGINATOR)[0] == BadActor(None, "d1", 7, 0.7)
    assert bad_actors([]) == []
