"""The append path of the PostgreSQL telemetry store: COPY into staging, and the rare rewrite path."""

from __future__ import annotations

import struct
from itertools import repeat
from typing import Any

import psycopg

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.storage.telemetry.buckets import MINUTE_MS, floor_to
from openiiot.storage.telemetry.postgres_sql import COPY_BATCH, Statements

# PostgreSQL's binary COPY format (docs: "COPY", section "Binary Format"): a signature, flags and header
# extension length, then per row the field count and per field its byte length (-1: NULL) and bytes.
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
# the common row, a number without text: 5 fields, int8 series_id, int8 ts, float8 value, NULL, int2 quality
_NUMBER_ROW = struct.Struct("!hiqiqidiih")
_HEAD = struct.Struct("!hiqiq")  # field count, series_id, ts of any row
_VALUE = struct.Struct("!id")
_QUALITY = struct.Struct("!ih")
_NULL = b"\xff\xff\xff\xff"
_LENGTH = struct.Struct("!i")


def encode_rows(
    series_ids: list[int],
    ts_ms: list[int],
    values: list[float | None],
    texts: list[str | None],
    qualities: list[int],
) -> bytes:
    """The rows in PostgreSQL's binary COPY format, signature and trailer included.

    One `struct` call per row, done in C when every row is a number without text (the ingest case), instead
    of the driver's per-value dumpers. Raises struct.error, TypeError or ValueError on a malformed column.
    """
    n = len(series_ids)
    if texts.count(None) == n and None not in values:
        body = b"".join(
            map(
                _NUMBER_ROW.pack,
                repeat(5, n),
                repeat(8, n),
                series_ids,
                repeat(8, n),
                ts_ms,
                repeat(8, n),
                values,
                repeat(-1, n),
                repeat(2, n),
                qualities,
            )
        )
        return _SIGNATURE + body + _TRAILER
    parts = [_SIGNATURE]
    for sid, ts, value, text, quality in zip(series_ids, ts_ms, values, texts, qualities, strict=True):
        parts.append(_HEAD.pack(5, 8, sid, 8, ts))
        parts.append(_NULL if value is None else _VALUE.pack(8, value))
        if text is None:
            parts.append(_NULL)
        else:
            raw = text.encode("utf-8")
            parts.append(_LENGTH.pack(len(raw)) + raw)
        parts.append(_QUALITY.pack(2, quality))
    parts.append(_TRAILER)
    return b"".join(parts)


def copy_batch(cur: psycopg.Cursor[Any], batch: TelemetryBatch, series_ids: list[int]) -> int:
    """COPY the batch into the staging table, keeping only the last write of a repeated point."""
    columns = (series_ids, batch.ts_ms, batch.value, batch.text, batch.quality)
    n = len(series_ids)
    if len(set(zip(series_ids, batch.ts_ms, strict=True))) < n:  # rare: a point repeated within the batch
        last: dict[tuple[int, int], int] = {}
        for i, point in enumerate(zip(series_ids, batch.ts_ms, strict=True)):
            last[point] = i
        keep = sorted(last.values())
        columns = tuple([column[i] for i in keep] for column in columns)  # type: ignore[assignment]
        n = len(keep)
    try:
        data = encode_rows(*columns)
    except (struct.error, TypeError, ValueError, OverflowError) as exc:
        raise ValidationFailed(f"telemetry batch has a malformed column: {exc}", field="batch") from exc
    try:
        with cur.copy(COPY_BATCH) as copy:
            copy.write(data)
    except psycopg.DataError as exc:
        raise ValidationFailed(f"telemetry batch has a malformed column: {exc}", field="batch") from exc
    return n


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
