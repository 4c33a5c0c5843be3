"""Production telemetry store on PostgreSQL: COPY batch appends, idempotent rows, latest values, rollups.

Layout, partitions and their reasons: docs/decisions/0005-postgres-telemetry.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from openiiot.domain.errors import ConfigurationError, OpenIIoTError, ValidationFailed
from openiiot.domain.telemetry import (
    Aggregate,
    AggregateRow,
    ConsumptionRow,
    Interval,
    LatestValue,
    Quality,
    RawPage,
    TelemetryBatch,
    TelemetryPoint,
)
from openiiot.storage.telemetry import postgres_append as append_sql
from openiiot.storage.telemetry import postgres_queries as queries
from openiiot.storage.telemetry import postgres_schema as schema
from openiiot.storage.telemetry.buckets import check_interval, zone
from openiiot.storage.telemetry.paging import check_page_limit, decode_cursor, encode_cursor
from openiiot.storage.telemetry.postgres_sql import PARTITION_MS, STAGING, Statements

log = logging.getLogger(__name__)

_INT64 = 2**63
# a stale partition cache (another process dropped one), a lock cycle between ingest processes or a
# dropped connection: try again
_RETRIES = 3


def is_postgres_url(url: str) -> bool:
    """True for postgresql:// and postgres:// URLs, with or without a SQLAlchemy driver suffix."""
    scheme = url.split("://", 1)[0].lower()
    return scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+")


def libpq_url(url: str) -> str:
    """The URL as libpq understands it: SQLAlchemy driver suffixes (postgresql+psycopg://) removed."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower().startswith("postgresql+"):
        return "postgresql://" + rest
    return url


def redacted(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable URL>"


class PostgresTelemetryStore:
    """TelemetryStore in one PostgreSQL schema (default `telemetry`), created on first use.

    One writer connection appends under a lock; readers take connections from a small pool, each call in one
    REPEATABLE READ READ ONLY transaction, so queries run beside ingest and see one consistent snapshot.
    Several processes may share one schema: DDL is serialised by advisory locks, rows by the keys.
    `use_rollups=False` answers every aggregate from raw points (to compare the two paths).
    """

    def __init__(
        self,
        url: str,
        *,
        schema_name: str = "telemetry",
        timescale: bool | None = None,
        use_rollups: bool = True,
        max_readers: int = 4,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._url = libpq_url(url)
        self._connect_timeout_s = connect_timeout_s
        self._sql = Statements.for_schema(schema_name)
        self._use_rollups = use_rollups
        self._write_lock = threading.RLock()
        self._closed = False
        self._series_cache: dict[tuple[str, str], int] = {}
        self._conn = self._connect()
        try:
            self.layout = schema.ensure_schema(self._conn, self._sql, timescale)
            self._partitions = schema.existing_partitions(self._conn, schema_name)
            self._pool = self._open_pool(max_readers)
        except BaseException:
            self._conn.close()
            raise

    # -- connections -----------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        """A new autocommit writer connection with the staging table; ConfigurationError says what to fix."""
        try:
            conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=max(1, round(self._connect_timeout_s))
            )
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"cannot connect to the PostgreSQL telemetry database {redacted(self._url)}: "
                f"{str(exc).strip()}; check host, port, user, password and database name in "
                "OPENIIOT_DATABASE_URL and that the server is running"
            ) from exc
        conn.execute(STAGING)
        return conn

    def _open_pool(self, max_readers: int) -> ConnectionPool:
        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True

        pool = ConnectionPool(
            self._url,
            min_size=1,
            max_size=max_readers,
            open=True,
            configure=configure,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, round(self._connect_timeout_s))},
            name=f"openiiot-telemetry-{self._sql.schema}",
        )
        try:
            pool.wait(timeout=self._connect_timeout_s)
        except PoolTimeout as exc:
            pool.close()
            raise ConfigurationError(
                f"cannot open reader connections to {redacted(self._url)}; is max_connections exhausted?"
            ) from exc
        return pool

    def _writer(self) -> psycopg.Connection[Any]:
        """The writer connection, reopened after the server restarted or the network dropped it."""
        if self._closed:
            raise OpenIIoTError("the telemetry store is closed")
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            try:
                self._conn = self._connect()
            except ConfigurationError as exc:
                raise OpenIIoTError(f"telemetry database unavailable: {exc}") from exc
        return self._conn

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Cursor[Any]]:
        """A pooled connection's cursor inside one read-only snapshot; library errors translated."""
        if self._closed:
            raise OpenIIoTError("the telemetry store is closed")
        try:
            with self._pool.connection(timeout=30.0) as conn, conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        except PoolTimeout as exc:
            raise OpenIIoTError(f"telemetry database unavailable: {exc}") from exc

    # -- writes ----------------------------------------------------------------------------------------

    def append(self, batch: TelemetryBatch) -> int:
        """Append a batch in one transaction (last write wins per device, key, ts); return points stored."""
        if len(batch) == 0:
            return 0
        lo_ms, hi_ms = min(batch.ts_ms), max(batch.ts_ms)
        if lo_ms < -_INT64 + PARTITION_MS or hi_ms >= _INT64 - PARTITION_MS:
            raise ValidationFailed("telemetry timestamp out of range", field="ts")
        with self._write_lock:
            for attempt in range(1, _RETRIES + 1):
                try:
                    return self._append_once(batch, lo_ms, hi_ms)
                except (errors.DeadlockDetected, errors.CheckViolation) as exc:
                    if attempt == _RETRIES:
                        raise _translate(exc) from exc
                    log.warning("telemetry append retried", extra={"attempt": attempt, "error": str(exc)})
                    self._partitions = schema.existing_partitions(self._writer(), self._sql.schema)
                except psycopg.OperationalError as exc:
                    # the server dropped the connection (a restart, a fail-over): reconnect once and retry
                    if attempt == _RETRIES or not self._conn.broken:
                        raise _translate(exc) from exc
                    log.warning("telemetry writer reconnecting", extra={"error": str(exc)})
                except psycopg.Error as exc:
                    raise _translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _append_once(self, batch: TelemetryBatch, lo_ms: int, hi_ms: int) -> int:
        conn = self._writer()
        if self.layout is schema.Layout.NATIVE:
            days = {ts // PARTITION_MS for ts in (lo_ms, hi_ms)}
            if not days <= self._partitions or hi_ms - lo_ms >= PARTITION_MS:
                days = {ts // PARTITION_MS for ts in batch.ts_ms}
            if not days <= self._partitions:
                self._partitions = schema.create_partitions(conn, self._sql.schema, days)
        sql = self._sql
        with conn.transaction(), conn.cursor() as cur:
            series_ids, fresh = self._resolve_series(cur, batch.device_id, batch.key)
            stored = append_sql.copy_batch(cur, batch, series_ids)
            row = cur.execute(sql.insert_new).fetchone()
            rewrites = stored - (int(row[0]) if row else 0)
            cur.execute(sql.upsert_latest)
            if not rewrites:
                # The common case: only new points, so rollup states merge without reading raw.
                cur.execute(sql.merge_minutes)
                cur.execute(sql.merge_hours)
            else:
                append_sql.rewrite(cur, sql, lo_ms, hi_ms)
        # Reached only after COMMIT: a rolled-back series must not stay in the cache.
        self._series_cache.update(fresh)
        return stored

    def _resolve_series(
        self, cur: psycopg.Cursor[Any], device_ids: list[str], keys: list[str]
    ) -> tuple[list[int], dict[tuple[str, str], int]]:
        """Series id of every point, creating series seen for the first time; also the ids not yet cached."""
        cache = self._series_cache
        pairs = list(zip(device_ids, keys, strict=True))
        missing = sorted(set(pairs).difference(cache))
        if not missing:  # the steady state: one C-level lookup per point
            return list(map(cache.__getitem__, pairs)), {}
        s = self._sql.schema
        columns = ([d for d, _ in missing], [k for _, k in missing])
        # sorted: concurrent processes insert new series in one order, so they cannot deadlock
        cur.execute(
            f"INSERT INTO {s}.series (device_id, key) "
            "SELECT * FROM unnest(%s::TEXT[], %s::TEXT[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            columns,
        )
        found = cur.execute(
            f"SELECT s.device_id, s.key, s.series_id FROM {s}.series s "
            "JOIN unnest(%s::TEXT[], %s::TEXT[]) AS w(device_id, key) USING (device_id, key)",
            columns,
        ).fetchall()
        fresh = {(d, k): int(sid) for d, k, sid in found}
        return [cache[p] if p in cache else fresh[p] for p in pairs], fresh

    def delete_before(self, device_ids: Sequence[str], cutoff_ms: int) -> int:
        """Retention: delete raw points of these devices older than `cutoff_ms`; rollups and latest stay."""
        if not device_ids:
            return 0
        s = self._sql.schema
        with self._write_lock, self._write_transaction() as cur:
            cur.execute(
                f"DELETE FROM {s}.raw WHERE ts < %s AND series_id IN "
                f"(SELECT series_id FROM {s}.series WHERE device_id = ANY(%s::TEXT[]))",
                [cutoff_ms, list(device_ids)],
            )
            deleted = cur.rowcount
        log.info("telemetry retention", extra={"devices": len(device_ids), "points_deleted": deleted})
        return deleted

    def drop_partitions_before(self, cutoff_ms: int) -> int:
        """Drop whole day partitions (TimescaleDB chunks) ending at or before `cutoff_ms`; return how many.

        Cheap retention for all devices at once: call it with the oldest cutoff any tenant allows.
        """
        with self._write_lock:
            conn = self._writer()
            try:
                dropped = schema.drop_partitions(conn, self._sql.schema, self.layout, cutoff_ms)
                self._partitions = schema.existing_partitions(conn, self._sql.schema)
            except psycopg.Error as exc:
                raise _translate(exc) from exc
        return dropped

    def delete_device(self, device_id: str) -> None:
        """Remove every point, latest value, rollup and series of a device."""
        s = self._sql.schema
        with self._write_lock, self._write_transaction() as cur:
            for table in ("raw", "latest", "rollup_1m", "rollup_1h"):
                cur.execute(
                    f"DELETE FROM {s}.{table} WHERE series_id IN "
                    f"(SELECT series_id FROM {s}.series WHERE device_id = %s)",
                    [device_id],
                )
            cur.execute(f"DELETE FROM {s}.series WHERE device_id = %s", [device_id])
            for pair in [p for p in self._series_cache if p[0] == device_id]:
                del self._series_cache[pair]

    @contextmanager
    def _write_transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        try:
            conn = self._writer()
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    # -- reads -----------------------------------------------------------------------------------------

    def _series_of(
        self, cur: psycopg.Cursor[Any], device_id: str, keys: Sequence[str] | None
    ) -> dict[int, str]:
        """Series id -> key of the device (only the given keys, when given)."""
        s = self._sql.schema
        if keys is None:
            rows = cur.execute(f"SELECT series_id, key FROM {s}.series WHERE device_id = %s", [device_id])
        else:
            rows = cur.execute(
                f"SELECT series_id, key FROM {s}.series WHERE device_id = %s AND key = ANY(%s::TEXT[])",
                [device_id, list(keys)],
            )
        return {int(sid): key for sid, key in rows.fetchall()}

    def raw(
        self,
        device_id: str,
        keys: Sequence[str] | None,
        start_ms: int,
        end_ms: int,
        *,
        limit: int = 1000,
        cursor: str | None = None,
        descending: bool = False,
    ) -> RawPage:
        """Raw points of the device in range, ordered by (ts, key), paged by an opaque cursor."""
        check_page_limit(limit)
        params: dict[str, object] = {"lo": start_ms, "hi": end_ms, "limit": limit + 1}
        after = ""
        # COLLATE "C": keys sort by code point, as in every other backend, whatever the database locale
        if cursor:
            params["c_ts"], params["c_key"] = decode_cursor(cursor, descending)
            op = "<" if descending else ">"
            after = f'AND (r.ts {op} %(c_ts)s OR (r.ts = %(c_ts)s AND s.key COLLATE "C" {op} %(c_key)s))'
        order = "DESC" if descending else "ASC"
        s = self._sql.schema
        with self._snapshot() as cur:
            series = self._series_of(cur, device_id, keys)
            if not series:
                return RawPage(points=[], next_cursor=None)
            params["ids"] = list(series)
            rows = cur.execute(
                f"""SELECT s.key, r.ts, r.value, r.text, r.quality
                FROM {s}.raw r JOIN {s}.series s USING (series_id)
                WHERE r.series_id = ANY(%(ids)s::BIGINT[]) AND r.ts >= %(lo)s AND r.ts < %(hi)s {after}
                ORDER BY r.ts {order}, s.key COLLATE "C" {order} LIMIT %(limit)s""",
                params,
            ).fetchall()
        points = [TelemetryPoint(device_id, k, ts, v, x, Quality(q)) for k, ts, v, x, q in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(points[-1].ts_ms, points[-1].key, descending) if more else None
        return RawPage(points=points, next_cursor=next_cursor)

    def aggregate(
        self,
        device_id: str,
        keys: Sequence[str],
        start_ms: int,
        end_ms: int,
        interval: Interval,
        aggregates: Sequence[Aggregate],
        timezone: str = "UTC",
    ) -> dict[str, list[AggregateRow]]:
        """Aggregates per key per bucket (numeric values only); empty buckets are omitted."""
        check_interval(interval)
        tz = zone(timezone)
        wanted = list(dict.fromkeys(keys))
        out: dict[str, list[AggregateRow]] = {key: [] for key in wanted}
        if not wanted or start_ms >= end_ms:
            return out
        with self._snapshot() as cur:
            series = self._series_of(cur, device_id, wanted)
            if series:
                found = queries.aggregate_series(
                    cur, self._sql, series, start_ms, end_ms, interval, aggregates, tz,
                    use_rollups=self._use_rollups,
                )  # fmt: skip
                out.update(found)
        return out

    def latest(
        self, device_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, LatestValue]]:
        """Newest value of each key of each requested device (an empty dict for a device without data)."""
        out: dict[str, dict[str, LatestValue]] = {d: {} for d in device_ids}
        if not device_ids:
            return out
        key_filter = "AND s.key = ANY(%(keys)s::TEXT[])" if keys is not None else ""
        params: dict[str, object] = {"devices": list(device_ids)}
        if keys is not None:
            params["keys"] = list(keys)
        s = self._sql.schema
        with self._snapshot() as cur:
            rows = cur.execute(
                f"""SELECT s.device_id, s.key, l.ts, l.value, l.text, l.quality
                FROM {s}.latest l JOIN {s}.series s USING (series_id)
                WHERE s.device_id = ANY(%(devices)s::TEXT[]) {key_filter}""",
                params,
            ).fetchall()
        for device_id, key, ts, value, text, quality in rows:
            out[device_id][key] = LatestValue(ts, value, text, Quality(quality))
        return out

    def consumption(
        self,
        device_id: str,
        key: str,
        start_ms: int,
        end_ms: int,
        interval: Interval,
        timezone: str = "UTC",
        *,
        rollover_at: float | None = None,
    ) -> list[ConsumptionRow]:
        """Consumption of a cumulative counter per bucket (resets and rollover handled)."""
        check_interval(interval)
        tz = zone(timezone)
        if start_ms >= end_ms:
            return []
        with self._snapshot() as cur:
            series = self._series_of(cur, device_id, [key])
            if not series:
                return []
            (series_id,) = series
            return queries.counter_consumption(
                cur, self._sql, series_id, start_ms, end_ms, interval, tz, rollover_at
            )

    def close(self) -> None:
        """Close the pool and the writer connection; later calls raise."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._pool.close()
            self._conn.close()


def _translate(exc: psycopg.Error) -> OpenIIoTError:
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return ValidationFailed(f"telemetry rejected by the store: {exc}", field="batch")
    if isinstance(exc, psycopg.OperationalError):
        return OpenIIoTError(f"telemetry database unavailable: {exc}")
    return OpenIIoTError(f"telemetry store failed: {exc}")
