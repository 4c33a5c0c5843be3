"""Aggregate and consumption queries of the DuckDB telemetry store, served from raw points and rollups."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import duckdb

from openiiot.domain.telemetry import Aggregate, AggregateRow, ConsumptionRow, Interval
from openiiot.storage.telemetry import duckdb_sql as sql
from openiiot.storage.telemetry.buckets import (
    HOUR_MS,
    MINUTE_MS,
    Segment,
    bucket_end_ms,
    ceil_to,
    floor_to,
    rollup_aligned,
    segments,
)
from openiiot.storage.telemetry.counters import consumption_rows

_ROLLUPS = ((HOUR_MS, "rollup_1h"), (MINUTE_MS, "rollup_1m"))


@dataclass(slots=True)
class _State:
    """Mergeable aggregate state of one series in one bucket."""

    count: int
    min: float
    max: float
    sums: list[float]
    first_ts: int
    first: float
    last_ts: int
    last: float

    def merge(self, other: _State) -> None:
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sums.extend(other.sums)
        if other.first_ts < self.first_ts:
            self.first_ts, self.first = other.first_ts, other.first
        if other.last_ts > self.last_ts:
            self.last_ts, self.last = other.last_ts, other.last

    def row(self, start_ms: int, aggregates: Sequence[Aggregate]) -> AggregateRow:
        total = math.fsum(self.sums)
        computed: dict[Aggregate, float] = {
            Aggregate.AVG: total / self.count,
            Aggregate.MIN: self.min,
            Aggregate.MAX: self.max,
            Aggregate.SUM: total,
            Aggregate.COUNT: float(self.count),
            Aggregate.FIRST: self.first,
            Aggregate.LAST: self.last,
        }
        return AggregateRow(
            start_ms=start_ms, count=self.count, values={str(a): computed[Aggregate(a)] for a in aggregates}
        )


def data_extent(
    cur: duckdb.DuckDBPyConnection, series_ids: Sequence[int], start_ms: int, end_ms: int
) -> tuple[int, int] | None:
    """Narrow [start_ms, end_ms) to the hours that hold numeric data (read from the 1-hour rollups)."""
    row = cur.execute(
        f"SELECT min(bucket), max(bucket) FROM rollup_1h WHERE series_id IN ({_ids(series_ids)}) "
        "AND bucket >= $lo AND bucket < $hi AND count > 0",
        {"lo": floor_to(start_ms, HOUR_MS), "hi": end_ms},
    ).fetchone()
    if row is None or row[0] is None:
        return None
    lo, hi = max(start_ms, int(row[0])), min(end_ms, int(row[1]) + HOUR_MS)
    return (lo, hi) if lo < hi else None


def aggregate_series(
    cur: duckdb.DuckDBPyConnection,
    series: dict[int, str],
    start_ms: int,
    end_ms: int,
    interval: Interval,
    aggregates: Sequence[Aggregate],
    tz: ZoneInfo,
    *,
    use_rollups: bool,
) -> dict[str, list[AggregateRow]]:
    """Aggregates per key; the rollup-aligned middle of the range is read from the coarsest fitting rollup."""
    out: dict[str, list[AggregateRow]] = {key: [] for key in series.values()}
    extent = data_extent(cur, list(series), start_ms, end_ms)
    if extent is None:
        return out
    lo, hi = extent
    plan = segments(lo, hi, interval, tz)
    states: dict[tuple[int, int], _State] = {}
    for source, piece_lo, piece_hi in _pieces(plan, lo, hi, use_rollups):
        for row in cur.execute(
            sql.PARTIAL_STATES.format(source=source.format(ids=_ids(series))),
            {"lo": piece_lo, "hi": piece_hi, **_segment_params(plan)},
        ).fetchall():
            sid, bucket, count, mn, mx, total, fts, first, lts, last = row
            state = _State(int(count), mn, mx, [total], fts, first, lts, last)
            existing = states.get((sid, bucket))
            if existing is None:
                states[(sid, bucket)] = state
            else:
                existing.merge(state)
    for (sid, bucket), state in sorted(states.items()):
        out[series[sid]].append(state.row(bucket, aggregates))
    return out


def _pieces(plan: list[Segment], lo: int, hi: int, use_rollups: bool) -> list[tuple[str, int, int]]:
    """Split [lo, hi) into raw edges and a rollup middle when every bucket boundary fits a rollup."""
    if use_rollups:
        for step_ms, table in _ROLLUPS:
            if not rollup_aligned(plan, step_ms):
                continue
            mid_lo, mid_hi = ceil_to(lo, step_ms), floor_to(hi, step_ms)
            if mid_lo >= mid_hi:
                continue  # too short for this rollup; a finer one may still fit
            pieces = [(sql.ROLLUP_AS_STATES.replace("{table}", table), mid_lo, mid_hi)]
            pieces += [(sql.RAW_AS_STATES, a, b) for a, b in ((lo, mid_lo), (mid_hi, hi)) if a < b]
            return pieces
    return [(sql.RAW_AS_STATES, lo, hi)]


def counter_consumption(
    cur: duckdb.DuckDBPyConnection,
    series_id: int,
    start_ms: int,
    end_ms: int,
    interval: Interval,
    tz: ZoneInfo,
    rollover_at: float | None,
) -> list[ConsumptionRow]:
    """Consumption per bucket from the raw samples of one counter ordered by ts."""
    extent = data_extent(cur, [series_id], start_ms, end_ms)
    if extent is None:
        return []
    lo, hi = extent
    plan = segments(lo, hi, interval, tz)
    samples = cur.execute(
        sql.COUNTER_SAMPLES, {"sid": series_id, "lo": lo, "hi": hi, **_segment_params(plan)}
    ).fetchall()
    ends: dict[int, int] = {}

    def end_of(bucket: int) -> int:
        if bucket not in ends:
            ends[bucket] = bucket_end_ms(bucket, interval, tz)
        return ends[bucket]

    previous = _previous_value(cur, series_id, start_ms)
    return consumption_rows(samples, previous, end_of, rollover_at)


def _previous_value(cur: duckdb.DuckDBPyConnection, series_id: int, before_ms: int) -> float | None:
    """The last numeric value before `before_ms`: from raw within its hour, else from the 1-hour rollups."""
    hour = floor_to(before_ms, HOUR_MS)
    row = cur.execute(
        "SELECT value FROM raw WHERE series_id = $sid AND ts >= $lo AND ts < $hi AND value IS NOT NULL "
        "ORDER BY ts DESC LIMIT 1",
        {"sid": series_id, "lo": hour, "hi": before_ms},
    ).fetchone()
    if row is None:
        row = cur.execute(
            "SELECT last FROM rollup_1h WHERE series_id = $sid AND bucket < $hi AND count > 0 "
            "ORDER BY bucket DESC LIMIT 1",
            {"sid": series_id, "hi": hour},
        ).fetchone()
    return None if row is None else float(row[0])


def _segment_params(plan: list[Segment]) -> dict[str, list[int]]:
    return {
        "seg_lo": [s.lo_ms for s in plan],
        "seg_origin": [s.origin_ms for s in plan],
        "seg_step": [s.step_ms for s in plan],
    }


def _ids(series_ids: Sequence[int] | dict[int, str]) -> str:
    # Literal integers (from our own series table) let DuckDB push the filter into the scan.
    return ",".join(str(int(s)) for s in series_ids)
