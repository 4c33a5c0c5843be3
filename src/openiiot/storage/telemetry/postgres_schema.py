"""Schema creation and time partitions of the PostgreSQL telemetry store: TimescaleDB or native.

Every DDL step runs under a transaction-scoped advisory lock named after the schema, so several platform
processes starting or creating partitions at once wait for each other instead of failing.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import psycopg

from openiiot.domain.errors import ConfigurationError
from openiiot.storage.telemetry.postgres_sql import PARTITION_MS, Statements, partition_day, partition_name

log = logging.getLogger(__name__)


class Layout(StrEnum):
    """How the raw table is time-partitioned."""

    NATIVE = "native"  # declarative range partitions of one UTC day, created on demand
    TIMESCALE = "timescale"  # a TimescaleDB hypertable with compression


def _lock(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"openiiot.telemetry.{schema}"])


def ensure_schema(conn: psycopg.Connection[Any], sql: Statements, timescale: bool | None) -> Layout:
    """Create the schema if needed and return its layout.

    `timescale=None` uses TimescaleDB when the extension can be created, native partitions otherwise;
    True demands TimescaleDB (ConfigurationError when it is missing); False forces native partitions.
    An existing raw table keeps the layout it was created with.
    """
    with conn.transaction():
        _lock(conn, sql.schema)
        existing = _existing_layout(conn, sql.schema)
        layout = existing or _choose_layout(conn, timescale)
        for statement in sql.create:
            conn.execute(statement)
        if existing is None:
            if layout is Layout.TIMESCALE:
                for statement in sql.raw_timescale:
                    conn.execute(statement)
            else:
                conn.execute(sql.raw_native)
            log.info(
                "telemetry schema %s created: %s",
                sql.schema,
                "TimescaleDB hypertable" if layout is Layout.TIMESCALE else "native daily partitions",
                extra={"schema": sql.schema, "layout": str(layout)},
            )
    if timescale is True and layout is not Layout.TIMESCALE:
        raise ConfigurationError(
            f"the telemetry schema {sql.schema!r} was created with native partitions, but TimescaleDB is "
            "required (OPENIIOT_TELEMETRY_TIMESCALE=require); use a new database or set it to auto"
        )
    return layout


def _existing_layout(conn: psycopg.Connection[Any], schema: str) -> Layout | None:
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'raw'",
        [schema],
    ).fetchone()
    if row is None:
        return None
    return Layout.NATIVE if row[0] == "p" else Layout.TIMESCALE


def _choose_layout(conn: psycopg.Connection[Any], timescale: bool | None) -> Layout:
    if timescale is False:
        return Layout.NATIVE
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    if available is not None:
        try:
            with conn.transaction():  # a savepoint: a failed CREATE EXTENSION leaves the rest intact
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            return Layout.TIMESCALE
        except psycopg.Error as exc:
            if timescale:
                raise ConfigurationError(
                    f"TimescaleDB is installed but cannot be enabled ({exc}); add it to "
                    "shared_preload_libraries and grant CREATE on the database, or set "
                    "OPENIIOT_TELEMETRY_TIMESCALE=auto"
                ) from exc
            log.warning(
                "TimescaleDB is installed but cannot be enabled (%s); telemetry uses native partitions",
                exc,
                extra={"error": str(exc)},
            )
            return Layout.NATIVE
    if timescale:
        raise ConfigurationError(
            "TimescaleDB is required (OPENIIOT_TELEMETRY_TIMESCALE=require) but the extension is not "
            "installed on the PostgreSQL server; install the timescaledb package for this PostgreSQL "
            "version and add it to shared_preload_libraries, or set OPENIIOT_TELEMETRY_TIMESCALE=auto"
        )
    log.info("TimescaleDB is not installed on the PostgreSQL server; telemetry uses native partitions")
    return Layout.NATIVE


def existing_partitions(conn: psycopg.Connection[Any], schema: str) -> set[int]:
    """Day numbers of the native partitions of `schema`.raw."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%s)",
        [f"{schema}.raw"],
    ).fetchall()
    return {day for (name,) in rows if (day := partition_day(name)) is not None}


def create_partitions(conn: psycopg.Connection[Any], schema: str, days: set[int]) -> set[int]:
    """Create the missing day partitions (committed at once, before the batch's transaction); return all."""
    with conn.transaction():
        _lock(conn, schema)
        present = existing_partitions(conn, schema)
        for day in sorted(days - present):
            name = f"{schema}.{partition_name(day)}"
            # CREATE ... PARTITION OF would lock raw against every reader; a table created apart and then
            # attached needs only SHARE UPDATE EXCLUSIVE, so queries and other writers go on meanwhile.
            conn.execute(f"CREATE TABLE {name} (LIKE {schema}.raw INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            conn.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (series_id, ts)")
            conn.execute(
                f"ALTER TABLE {schema}.raw ATTACH PARTITION {name} "
                f"FOR VALUES FROM ({day * PARTITION_MS}) TO ({(day + 1) * PARTITION_MS})"
            )
            present.add(day)
    return present


def drop_partitions(conn: psycopg.Connection[Any], schema: str, layout: Layout, cutoff_ms: int) -> int:
    """Drop every partition (or TimescaleDB chunk) that ends at or before `cutoff_ms`; return how many."""
    with conn.transaction():
        if layout is Layout.TIMESCALE:
            row = conn.execute(
                "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::BIGINT)",
                [f"{schema}.raw", cutoff_ms],
            ).fetchone()
            return int(row[0]) if row else 0
        _lock(conn, schema)
        doomed = sorted(d for d in existing_partitions(conn, schema) if (d + 1) * PARTITION_MS <= cutoff_ms)
        for day in doomed:
            conn.execute(f"DROP TABLE {schema}.{partition_name(day)}")
    if doomed:
        log.info("telemetry partitions dropped", extra={"schema": schema, "partitions": len(doomed)})
    return len(doomed)
