"""Contract of the TelemetryStore port, run against every backend (see conftest.TELEMETRY_BACKENDS)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.telemetry import (
    Aggregate,
    AggregateRow,
    ConsumptionRow,
    Interval,
    LatestValue,
    Quality,
    TelemetryBatch,
    TelemetryPoint,
)
from openiiot.services.ports import TelemetryStore

# Made by the `telemetry_factory` fixture of conftest.py: a store of the backend under test.
TelemetryFactory = Callable[[bool], TelemetryStore]

ALL = list(Aggregate)
FAR = 2**62
MIN_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000


def ms(text: str) -> int:
    """UTC milliseconds of an ISO instant written without zone."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def batch_of(device: str, key: str, samples: list[tuple[int, float]]) -> TelemetryBatch:
    batch = TelemetryBatch()
    for ts, value in samples:
        batch.add(device, key, ts, value)
    return batch


def row(start_ms: int, values: list[float]) -> AggregateRow:
    """The expected aggregate row of values given in ts order."""
    total = sum(values)
    return AggregateRow(
        start_ms=start_ms,
        count=len(values),
        values={
            "avg": total / len(values),
            "min": min(values),
            "max": max(values),
            "sum": total,
            "count": float(len(values)),
            "first": values[0],
            "last": values[-1],
        },
    )


def all_raw(store: TelemetryStore, device: str, keys: list[str] | None = None) -> list[TelemetryPoint]:
    return store.raw(device, keys, 0, FAR, limit=10_000).points


# -- idempotency -----------------------------------------------------------------------------------------


def test_reappending_a_batch_keeps_one_row_per_point(store: TelemetryStore) -> None:
    batch = batch_of("d1", "temp", [(1000, 1.0), (2000, 2.0), (3000, 3.0)])
    assert store.append(batch) == 3
    assert store.append(batch) == 3
    assert [(p.ts_ms, p.value) for p in all_raw(store, "d1")] == [(1000, 1.0), (2000, 2.0), (3000, 3.0)]
    hourly = store.aggregate(
        "d1", ["temp"], 0, HOUR_MS, Interval(ms=HOUR_MS), [Aggregate.COUNT, Aggregate.SUM]
    )
    assert hourly["temp"] == [AggregateRow(0, 3, {"count": 3.0, "sum": 6.0})]


def test_last_write_wins_across_and_within_batches(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "temp", [(1000, 1.0), (2000, 2.0)]))
    store.append(batch_of("d1", "temp", [(2000, 20.0), (2000, 21.0)]))  # repeated inside one batch too
    assert [(p.ts_ms, p.value) for p in all_raw(store, "d1")] == [(1000, 1.0), (2000, 21.0)]
    assert store.latest(["d1"])["d1"]["temp"].value == 21.0
    # rollups (when a backend has them) must follow the rewrite, not keep the first value
    daily = store.aggregate("d1", ["temp"], 0, DAY_MS, Interval(ms=DAY_MS), ALL)
    assert daily["temp"] == [row(0, [1.0, 21.0])]


def test_a_point_rewritten_as_text_leaves_the_aggregates(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "k", [(1000, 5.0)]))
    rewrite = TelemetryBatch()
    rewrite.add("d1", "k", 1000, None, "offline")
    store.append(rewrite)
    assert store.aggregate("d1", ["k"], 0, DAY_MS, Interval(ms=HOUR_MS), ALL) == {"k": []}
    assert all_raw(store, "d1")[0].text == "offline"


# -- raw paging ------------------------------------------------------------------------------------------

_device_ids = itertools.count()
_points = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40), st.integers(-5, 5)), max_size=60
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=_points,
    limit=st.integers(1, 7),
    descending=st.booleans(),
    keys=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c", "zz"]), max_size=3)),
    window=st.tuples(st.integers(0, 45), st.integers(0, 45)),
)
def test_paging_returns_every_point_once_in_order(
    store: TelemetryStore,
    points: list[tuple[str, int, int]],
    limit: int,
    descending: bool,
    keys: list[str] | None,
    window: tuple[int, int],
) -> None:
    device = f"dev-{next(_device_ids)}"  # a fresh device per example: the store fixture is shared
    batch = TelemetryBatch()
    for key, ts, value in points:
        batch.add(device, key, ts, float(value))
    store.append(batch)
    start, end = window
    latest_write = {(k, ts): float(v) for k, ts, v in points}
    expected = sorted(
        (
            (ts, k, v)
            for (k, ts), v in latest_write.items()
            if start <= ts < end and (keys is None or k in keys)
        ),
        reverse=descending,
    )
    got: list[tuple[int, str, float | None]] = []
    cursor: str | None = None
    for _ in range(100):
        page = store.raw(device, keys, start, end, limit=limit, cursor=cursor, descending=descending)
        assert len(page.points) <= limit
        got += [(p.ts_ms, p.key, p.value) for p in page.points]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert got == expected


def test_raw_filters_keys_and_sorts_descending(store: TelemetryStore) -> None:
    batch = TelemetryBatch()
    for ts in (10, 20, 30):
        for key in ("a", "b", "c"):
            batch.add("d1", key, ts, float(ts))
    store.append(batch)
    page = store.raw("d1", ["c", "a"], 10, 30, descending=True)
    assert [(p.ts_ms, p.key) for p in page.points] == [(20, "c"), (20, "a"), (10, "c"), (10, "a")]
    assert page.next_cursor is None


def test_a_cursor_is_checked(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "k", [(1, 1.0), (2, 2.0)]))
    cursor = store.raw("d1", None, 0, 10, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(ValidationFailed):
        store.raw("d1", None, 0, 10, cursor="not a cursor")
    with pytest.raises(ValidationFailed):
        store.raw("d1", None, 0, 10, cursor=cursor, descending=True)
    with pytest.raises(ValidationFailed):
        store.raw("d1", None, 0, 10, limit=0)


# -- aggregates ------------------------------------------------------------------------------------------

# Instants chosen around UTC, Shanghai (+08:00) and Kolkata (+05:30) midnights and a month end.
P1 = ms("2024-01-31T15:30:00")  # Shanghai 23:30 Jan 31; Kolkata 21:00 Jan 31
P2 = ms("2024-01-31T16:30:00")  # Shanghai 00:30 Feb 1
P3 = ms("2024-01-31T16:30:00.500")
P4 = ms("2024-01-31T16:59:59")
P5 = ms("2024-02-01T00:00:00")  # Kolkata 05:30 Feb 1
P6 = ms("2024-02-01T23:59:59.999")  # Shanghai 07:59 Feb 2; Kolkata 05:29 Feb 2
SAMPLES = [(P1, 1.0), (P2, 2.0), (P3, 3.0), (P4, 4.0), (P5, 5.0), (P6, 6.0)]


@pytest.fixture
def sampled(store: TelemetryStore) -> TelemetryStore:
    store.append(batch_of("d1", "p", SAMPLES[3:]))
    store.append(batch_of("d1", "p", SAMPLES[:3]))  # late arrivals
    text = TelemetryBatch()
    text.add("d1", "p", ms("2024-01-31T16:30:10"), None, "sensor fault")  # ignored by aggregates
    store.append(text)
    return store


@pytest.mark.parametrize(
    ("interval", "timezone", "expected"),
    [
        (
            Interval(ms=1000),
            "UTC",
            [(P1, [1.0]), (P2, [2.0, 3.0]), (P4, [4.0]), (P5, [5.0]), (P6 - 999, [6.0])],
        ),
        (
            Interval(ms=MIN_MS),
            "UTC",
            [(P1, [1.0]), (P2, [2.0, 3.0]), (P4 - 59_000, [4.0]), (P5, [5.0]), (P6 - 59_999, [6.0])],
        ),
        (
            Interval(ms=HOUR_MS),
            "UTC",
            [
                (P1 - 30 * MIN_MS, [1.0]),
                (P2 - 30 * MIN_MS, [2.0, 3.0, 4.0]),
                (P5, [5.0]),
                (ms("2024-02-01T23:00:00"), [6.0]),
            ],
        ),
        (
            Interval(ms=DAY_MS),
            "UTC",
            [(ms("2024-01-31T00:00:00"), [1.0, 2.0, 3.0, 4.0]), (P5, [5.0, 6.0])],
        ),
        (
            Interval(ms=DAY_MS),
            "Asia/Shanghai",  # a local day starts at 16:00 UTC of the day before
            [
                (ms("2024-01-30T16:00:00"), [1.0]),
                (ms("2024-01-31T16:00:00"), [2.0, 3.0, 4.0, 5.0]),
                (ms("2024-02-01T16:00:00"), [6.0]),
            ],
        ),
        (
            Interval(ms=DAY_MS),
            "Asia/Kolkata",  # a half-hour offset: only 1-minute rollups line up
            [
                (ms("2024-01-30T18:30:00"), [1.0, 2.0, 3.0, 4.0]),
                (ms("2024-01-31T18:30:00"), [5.0]),
                (ms("2024-02-01T18:30:00"), [6.0]),
            ],
        ),
        (
            Interval(ms=7 * DAY_MS),
            "UTC",  # ISO weeks start on Monday 2024-01-29
            [(ms("2024-01-29T00:00:00"), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
        ),
        (
            Interval(months=1),
            "UTC",
            [(ms("2024-01-01T00:00:00"), [1.0, 2.0, 3.0, 4.0]), (P5, [5.0, 6.0])],
        ),
        (
            Interval(months=1),
            "Asia/Shanghai",
            [(ms("2023-12-31T16:00:00"), [1.0]), (ms("2024-01-31T16:00:00"), [2.0, 3.0, 4.0, 5.0, 6.0])],
        ),
    ],
    ids=["1s", "1min", "1h", "1d-utc", "1d-shanghai", "1d-kolkata", "1w", "1mo-utc", "1mo-shanghai"],
)
def test_every_aggregate_per_interval(
    sampled: TelemetryStore, interval: Interval, timezone: str, expected: list[tuple[int, list[float]]]
) -> None:
    start, end = ms("2023-12-01T00:00:00"), ms("2024-03-01T00:00:00")
    got = sampled.aggregate("d1", ["p", "missing"], start, end, interval, ALL, timezone)
    assert got == {"p": [row(s, values) for s, values in expected], "missing": []}


def test_aggregates_respect_the_range_edges(sampled: TelemetryStore) -> None:
    got = sampled.aggregate("d1", ["p"], P2 + 1, P5, Interval(ms=DAY_MS), [Aggregate.SUM], "UTC")
    assert got == {"p": [AggregateRow(ms("2024-01-31T00:00:00"), 2, {"sum": 7.0})]}


def test_rollup_path_answers_like_raw_path(telemetry_factory: TelemetryFactory) -> None:
    auto, raw_only = telemetry_factory(False), telemetry_factory(True)
    rng = random.Random(7)
    start = ms("2024-03-08T00:00:00")  # spans the New York DST change of 2024-03-10
    samples = [
        (start + i * 37_000 + rng.randrange(30_000), rng.randrange(-400, 400) / 4) for i in range(25_000)
    ]
    rng.shuffle(samples)
    for store in (auto, raw_only):
        for chunk in range(0, len(samples), 5_000):
            store.append(batch_of("d1", "p", samples[chunk : chunk + 5_000]))
        store.append(batch_of("d1", "p", samples[:500]))  # re-sent duplicates change nothing
    lo, hi = start + 1_234_567, start + 10 * DAY_MS - 7_654_321  # unaligned: raw edges around rollups
    cases = [
        (Interval(ms=MIN_MS), "UTC"),
        (Interval(ms=5 * MIN_MS), "Asia/Kolkata"),
        (Interval(ms=HOUR_MS), "UTC"),
        (Interval(ms=HOUR_MS), "Asia/Kolkata"),
        (Interval(ms=DAY_MS), "Asia/Shanghai"),
        (Interval(ms=DAY_MS), "Asia/Kolkata"),
        (Interval(ms=DAY_MS), "America/New_York"),
        (Interval(ms=7 * DAY_MS), "Europe/Berlin"),
        (Interval(months=1), "Asia/Shanghai"),
    ]
    for interval, timezone in cases:
        expected = raw_only.aggregate("d1", ["p"], lo, hi, interval, ALL, timezone)
        assert expected["p"], (interval, timezone)
        assert auto.aggregate("d1", ["p"], lo, hi, interval, ALL, timezone) == expected, (interval, timezone)


def test_aggregate_rejects_bad_requests(sampled: TelemetryStore) -> None:
    with pytest.raises(ValidationFailed):
        sampled.aggregate("d1", ["p"], 0, FAR, Interval(ms=DAY_MS), ALL, "Mars/Olympus_Mons")
    with pytest.raises(ValidationFailed):
        sampled.aggregate("d1", ["p"], 0, FAR, Interval(ms=36 * HOUR_MS), ALL)


# -- latest ----------------------------------------------------------------------------------------------


def test_latest_keeps_the_newest_when_an_older_point_arrives_late(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "t", [(5000, 5.0), (4000, 4.0)]))
    store.append(batch_of("d1", "t", [(3000, 3.0)]))  # late, older
    store.append(batch_of("d1", "h", [(1000, 1.0)]))
    store.append(batch_of("d2", "t", [(7000, 7.0)]))
    assert store.latest(["d1", "d2", "ghost"]) == {
        "d1": {"t": LatestValue(5000, 5.0), "h": LatestValue(1000, 1.0)},
        "d2": {"t": LatestValue(7000, 7.0)},
        "ghost": {},
    }
    assert store.latest(["d1"], ["h"]) == {"d1": {"h": LatestValue(1000, 1.0)}}


# -- consumption -----------------------------------------------------------------------------------------

T0 = ms("2024-05-01T00:00:00")
# 00:10 10, 00:50 15 | 01:10 18, 01:40 3 (meter reset) | 02:20 5
METER = [(T0 + 10 * MIN_MS, 10.0), (T0 + 50 * MIN_MS, 15.0), (T0 + 70 * MIN_MS, 18.0),
         (T0 + 100 * MIN_MS, 3.0), (T0 + 140 * MIN_MS, 5.0)]  # fmt: skip
METER_HOURLY = [
    ConsumptionRow(T0, T0 + HOUR_MS, 5.0, 0),
    ConsumptionRow(T0 + HOUR_MS, T0 + 2 * HOUR_MS, 6.0, 1),  # 15->18 is 3, then the reset: 3 more
    ConsumptionRow(T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS, 2.0, 0),
]


def test_consumption_handles_a_meter_reset(store: TelemetryStore) -> None:
    store.append(batch_of("m", "kwh", METER))
    assert store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(ms=HOUR_MS)) == METER_HOURLY
    # a rollover limit far above the previous value does not turn the reset into a wrap
    assert (
        store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(ms=HOUR_MS), rollover_at=1e6) == METER_HOURLY
    )
    # the sample before the range counts: 15 -> 18 belongs to the 01:00 bucket
    assert store.consumption("m", "kwh", T0 + HOUR_MS, T0 + DAY_MS, Interval(ms=HOUR_MS)) == METER_HOURLY[1:]
    daily = store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(ms=DAY_MS), "Asia/Shanghai")
    assert daily == [ConsumptionRow(ms("2024-04-30T16:00:00"), ms("2024-05-01T16:00:00"), 13.0, 1)]


def test_consumption_handles_rollover(store: TelemetryStore) -> None:
    store.append(
        batch_of("m", "kwh", [(T0, 950.0), (T0 + 1000, 990.0), (T0 + 2000, 20.0), (T0 + 3000, 40.0)])
    )
    got = store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(months=1), rollover_at=1000.0)
    assert got == [ConsumptionRow(ms("2024-05-01T00:00:00"), ms("2024-06-01T00:00:00"), 90.0, 1)]
    without = store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(months=1))
    assert without[0].delta == 40.0 + 20.0 + 20.0  # read as a reset: 950->990, then 20 anew, then 20->40


def test_consumption_is_the_same_for_shuffled_split_batches(telemetry_factory: TelemetryFactory) -> None:
    ordered, shuffled = telemetry_factory(False), telemetry_factory(False)
    ordered.append(batch_of("m", "kwh", METER))
    scrambled = METER[::-1]
    for sample in scrambled:
        shuffled.append(batch_of("m", "kwh", [sample]))
    for store in (ordered, shuffled):
        assert store.consumption("m", "kwh", T0, T0 + DAY_MS, Interval(ms=HOUR_MS)) == METER_HOURLY


def test_consumption_of_unknown_series_is_empty(store: TelemetryStore) -> None:
    assert store.consumption("nobody", "kwh", 0, FAR, Interval(ms=HOUR_MS)) == []


# -- retention and deletion ------------------------------------------------------------------------------


def test_delete_before_removes_old_raw_points_only(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "t", [(1000, 1.0), (2000, 2.0), (3000, 3.0)]))
    store.append(batch_of("d1", "h", [(1500, 1.5)]))
    store.append(batch_of("d2", "t", [(1000, 9.0)]))
    assert store.delete_before(["d1"], 2500) == 3
    assert [(p.key, p.ts_ms) for p in all_raw(store, "d1")] == [("t", 3000)]
    assert [p.ts_ms for p in all_raw(store, "d2")] == [1000]
    assert store.latest(["d1"])["d1"]["h"] == LatestValue(1500, 1.5)
    assert store.delete_before([], 10_000) == 0


def test_delete_device_removes_everything_of_it(store: TelemetryStore) -> None:
    store.append(batch_of("d1", "t", [(1000, 1.0)]))
    store.append(batch_of("d2", "t", [(1000, 2.0)]))
    store.delete_device("d1")
    assert all_raw(store, "d1") == []
    assert store.latest(["d1"]) == {"d1": {}}
    assert store.aggregate("d1", ["t"], 0, FAR, Interval(ms=HOUR_MS), ALL) == {"t": []}
    assert store.consumption("d1", "t", 0, FAR, Interval(ms=HOUR_MS)) == []
    assert [p.value for p in all_raw(store, "d2")] == [2.0]
    store.append(batch_of("d1", "t", [(5000, 5.0)]))  # the id can be used again
    assert [p.value for p in all_raw(store, "d1")] == [5.0]


# -- edges -----------------------------------------------------------------------------------------------


def test_empty_ranges_and_unknown_series_give_empty_answers(store: TelemetryStore) -> None:
    assert store.append(TelemetryBatch()) == 0
    store.append(batch_of("d1", "t", [(1000, 1.0)]))
    assert store.raw("d1", None, 1000, 1000).points == []
    assert store.raw("d1", None, 2000, 1000).points == []
    assert store.raw("nobody", None, 0, FAR).points == []
    assert store.aggregate("d1", ["t"], 1000, 1000, Interval(ms=HOUR_MS), ALL) == {"t": []}
    assert store.aggregate("d1", ["t"], 2000, 5000, Interval(ms=HOUR_MS), ALL) == {"t": []}
    assert store.aggregate("d1", [], 0, FAR, Interval(ms=HOUR_MS), ALL) == {}
    assert store.consumption("d1", "t", 2000, 5000, Interval(ms=HOUR_MS)) == []
    assert store.latest([]) == {}


def test_text_values_are_kept_and_ignored_by_aggregates(store: TelemetryStore) -> None:
    batch = TelemetryBatch()
    batch.add("d1", "state", 1000, None, "running", Quality.UNCERTAIN)
    batch.add("d1", "state", 2000, None, "stopped")
    batch.add("d1", "speed", 1000, 12.5, None, Quality.BAD)
    store.append(batch)
    assert all_raw(store, "d1") == [
        TelemetryPoint("d1", "speed", 1000, 12.5, None, Quality.BAD),
        TelemetryPoint("d1", "state", 1000, None, "running", Quality.UNCERTAIN),
        TelemetryPoint("d1", "state", 2000, None, "stopped"),
    ]
    assert store.latest(["d1"])["d1"]["state"] == LatestValue(2000, None, "stopped")
    got = store.aggregate("d1", ["state", "speed"], 0, HOUR_MS, Interval(ms=MIN_MS), [Aggregate.COUNT])
    assert got == {"state": [], "speed": [AggregateRow(0, 1, {"count": 1.0})]}
