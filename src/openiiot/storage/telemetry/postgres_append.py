"""The append path of the PostgreSQL telemetry store: COPY into staging, and the rare rewrite path."""

from __future__ import annotations

from typing import Any

import psycopg

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.storage.telemetry.buckets import MINUTE_MS, floor_to
from openiiot.storage.telemetry.postgres_sql import COPY_BATCH, COPY_TYPES, Statements


def copy_batch(cur: psycopg.Cursor[Any], batch: TelemetryBatch, series_ids: list[int]) -> int:
    """COPY the batch into the staging table, keeping only the last write of a repeated point."""
    columns = (series_ids, batch.ts_ms, batch.value, batch.text, batch.quality)
    last: dict[tuple[int, int], int] = {}
    for i, point in enumerate(zip(series_ids, batch.ts_ms, strict=True)):
        last[point] = i
    if len(last) < len(series_ids):
        keep = sorted(last.values())
        columns = tuple([column[i] for i in keep] for column in columns)  # type: ignore[assignment]
    try:
        with cur.copy(COPY_BATCH) as copy:
            copy.set_types(list(COPY_TYPES))
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    except (TypeError, ValueError, OverflowError, psycopg.DataError) as exc:
        raise ValidationFailed(f"telemetry batch has a malformed column: {exc}", field="batch") from exc
    return len(last)


def rewrite(cur: psycopg.Cursor[Any], sql: Statements, lo_ms: int, hi_ms: int) -> None:
    """Store the batch's rewrites of existing points and recompute the rollup buckets it touched."""
    cur.execute("ANALYZE batch_in")  # rare path: real row counts keep the joins below on the indexes
    cur.execute(sql.update_raw, {"lo": lo_ms, "hi": hi_ms + 1})
    cur.execute(sql.lock_minutes)
    cur.execute(sql.lock_hours)
    cur.execute(
        sql.refresh_minutes, {"lo": floor_to(lo_ms, MINUTE_MS), "hi": floor_to(hi_ms, MINUTE_MS) + MINUTE_MS}
    )
    cur.execute(sql.refresh_hours)
