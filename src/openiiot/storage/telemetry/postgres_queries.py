"""Aggregate and consumption queries of the PostgreSQL telemetry store, served from raw points and rollups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from openiiot.domain.telemetry import Aggregate, AggregateRow, ConsumptionRow, Interval
from openiiot.storage.telemetry.aggregate_states import AggregateState, merge_partial_rows, read_pieces
from openiiot.storage.telemetry.buckets import HOUR_MS, Segment, bucket_end_ms, floor_to, segments
from openiiot.storage.telemetry.counters import consumption_rows
from openiiot.storage.telemetry.postgres_sql import Statements

Cursor = psycopg.Cursor[Any]


def data_extent(
    cur: Cursor, sql: Statements, series_ids: Sequence[int], start_ms: int, end_ms: int
) -> tuple[int, int] | None:
    """Narrow [start_ms, end_ms) to the hours that hold numeric data (read from the 1-hour rollups)."""
    row = cur.execute(
        f"SELECT min(bucket), max(bucket) FROM {sql.schema}.rollup_1h "
        "WHERE series_id = ANY(%(ids)s::BIGINT[]) AND bucket >= %(lo)s AND bucket < %(hi)s AND count > 0",
        {"ids": list(series_ids), "lo": floor_to(start_ms, HOUR_MS), "hi": end_ms},
    ).fetchone()
    if row is None or row[0] is None:
        return None
    lo, hi = max(start_ms, int(row[0])), min(end_ms, int(row[1]) + HOUR_MS)
    return (lo, hi) if lo < hi else None


def aggregate_series(
    cur: Cursor,
    sql: Statements,
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
    extent = data_extent(cur, sql, list(series), start_ms, end_ms)
    if extent is None:
        return out
    lo, hi = extent
    plan = segments(lo, hi, interval, tz)
    states: dict[tuple[int, int], AggregateState] = {}
    for table, piece_lo, piece_hi in read_pieces(plan, lo, hi, use_rollups):
        statement = sql.raw_states if table is None else sql.rollup_states[table]
        params = {"ids": list(series), "lo": piece_lo, "hi": piece_hi, **_segment_params(plan)}
        merge_partial_rows(states, cur.execute(statement, params).fetchall())
    for (sid, bucket), state in sorted(states.items()):
        out[series[sid]].append(state.row(bucket, aggregates))
    return out


def counter_consumption(
    cur: Cursor,
    sql: Statements,
    series_id: int,
    start_ms: int,
    end_ms: int,
    interval: Interval,
    tz: ZoneInfo,
    rollover_at: float | None,
) -> list[ConsumptionRow]:
    """Consumption per bucket from the raw samples of one counter ordered by ts."""
    extent = data_extent(cur, sql, [series_id], start_ms, end_ms)
    if extent is None:
        return []
    lo, hi = extent
    plan = segments(lo, hi, interval, tz)
    samples = cur.execute(
        sql.counter_samples, {"sid": series_id, "lo": lo, "hi": hi, **_segment_params(plan)}
    ).fetchall()
    ends: dict[int, int] = {}

    def end_of(bucket: int) -> int:
        if bucket not in ends:
            ends[bucket] = bucket_end_ms(bucket, interval, tz)
        return ends[bucket]

    previous = _previous_value(cur, sql, series_id, start_ms)
    return consumption_rows(samples, previous, end_of, rollover_at)


def _previous_value(cur: Cursor, sql: Statements, series_id: int, before_ms: int) -> float | None:
    """The last numeric value before `before_ms`: from raw within its hour, else from the 1-hour rollups."""
    hour = floor_to(before_ms, HOUR_MS)
    row = cur.execute(
        f"SELECT value FROM {sql.schema}.raw WHERE series_id = %(sid)s AND ts >= %(lo)s AND ts < %(hi)s "
        "AND value IS NOT NULL ORDER BY ts DESC LIMIT 1",
        {"sid": series_id, "lo": hour, "hi": before_ms},
    ).fetchone()
    if row is None:
        row = cur.execute(
            f"SELECT last FROM {sql.schema}.rollup_1h WHERE series_id = %(sid)s AND bucket < %(hi)s "
            "AND count > 0 ORDER BY bucket DESC LIMIT 1",
            {"sid": series_id, "hi": hour},
        ).fetchone()
    return None if row is None else float(row[0])


def _segment_params(plan: list[Segment]) -> dict[str, list[int]]:
    return {
        "seg_lo": [s.lo_ms for s in plan],
        "seg_origin": [s.origin_ms for s in plan],
        "seg_step": [s.step_ms for s in plan],
    }
