"""Append throughput of the PostgreSQL telemetry store: 5,000-point batches into a table of N million rows.

Printed side by side, measured in the same run on the same server and data:
- the store's append (COPY into staging, idempotent INSERT, latest values, 1-minute and 1-hour rollups);
- the same batches re-sent (every point a rewrite: UPDATE and rollup refresh);
- 50,000-point batches (ten samples of every series: fewer rollup and latest rows per point);
- a plain binary COPY into a table of the same shape without key, latest or rollups (the floor).
Then bytes on disk per million points (pg_total_relation_size of the raw partitions, and of everything),
and one aggregate over the whole table from rollups and from raw points.

The run uses a throw-away database on the server of --url (default: OPENIIOT_TEST_POSTGRES_URL or the
local test server) and drops it afterwards.

    python benchmarks/telemetry_append_postgres.py --million 2 --batches 60
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from openiiot.domain.telemetry import TelemetryBatch
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore
from telemetry_append import DEVICES, KEYS, T0_MS, make_batch, query_seconds, timed_appends

DEFAULT_URL = os.environ.get("OPENIIOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped on exit."""
    name = f"openiiot_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path="/" + name))
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def prefill(store: PostgresTelemetryStore, steps: int) -> float:
    """Append `steps` samples of every series in 50,000-point batches; return seconds taken."""
    started = time.perf_counter()
    chunk = 10
    for first in range(0, steps, chunk):
        big = TelemetryBatch()
        for step in range(first, min(first + chunk, steps)):
            big.extend(make_batch(step))
        store.append(big)
    return time.perf_counter() - started


def merged(first_step: int) -> TelemetryBatch:
    """Ten samples of every series in one 50,000-point batch (what a busy ingest worker commits)."""
    big = TelemetryBatch()
    for step in range(first_step, first_step + 10):
        big.extend(make_batch(step))
    return big


def plain_copy_rate(url: str, batches: list[TelemetryBatch]) -> float:
    """Points/s of a bare binary COPY per batch (no key, latest or rollups), one transaction each."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE plain (series_id BIGINT, ts BIGINT, value DOUBLE PRECISION, text TEXT, "
            "quality SMALLINT)"
        )
        started = time.perf_counter()
        for batch in batches:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy("COPY plain FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.set_types(["int8", "int8", "float8", "text", "int2"])
                for row in zip(
                    range(len(batch)), batch.ts_ms, batch.value, batch.text, batch.quality, strict=True
                ):
                    cp.write_row(row)
        rate = sum(len(b) for b in batches) / (time.perf_counter() - started)
        conn.execute("DROP TABLE plain")
    return rate


def sizes(url: str) -> tuple[int, int, int]:
    """Raw rows, bytes of the raw partitions (with indexes and TOAST), bytes of the whole schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # settle visibility maps so the sizes are those of a quiet table
        row = conn.execute(
            "SELECT (SELECT count(*) FROM telemetry.raw), "
            "(SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            " WHERE inhparent = 'telemetry.raw'::regclass), "
            "(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            " ON n.oid = c.relnamespace WHERE n.nspname = 'telemetry' AND c.relkind IN ('r', 'm'))"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", type=float, default=2.0, help="rows already in the table")
    parser.add_argument("--batches", type=int, default=60, help="timed 5,000-point batches")
    parser.add_argument("--url", default=DEFAULT_URL, help="a database on the server to benchmark")
    args = parser.parse_args()
    steps = int(args.million * 1_000_000) // (DEVICES * KEYS)
    rows = steps * DEVICES * KEYS
    batches = [make_batch(steps + i) for i in range(args.batches)]
    with scratch_database(args.url) as url:
        store = PostgresTelemetryStore(url)
        print(f"layout: {store.layout}; prefill {rows:,} rows: {prefill(store, steps):.1f} s")
        append_rate = timed_appends(store, batches)
        resent_rate = timed_appends(store, batches[:10])  # duplicates: every point is a rewrite
        big_batches = [merged(steps + args.batches + 10 * i) for i in range(3)]
        big_rate = timed_appends(store, big_batches)
        end_ms = T0_MS + (steps + args.batches + 30) * 1000
        rollup_s = query_seconds(store, end_ms)
        store.close()
        raw_store = PostgresTelemetryStore(url, use_rollups=False)
        raw_s = query_seconds(raw_store, end_ms)
        raw_store.close()
        stored, raw_bytes, all_bytes = sizes(url)
        plain_rate = plain_copy_rate(url, batches)
    print(f"5,000-point batches into {rows:,} rows (points/s):")
    print(f"  PostgresTelemetryStore.append    {append_rate:>12,.0f}")
    print(f"  same, re-sent duplicates         {resent_rate:>12,.0f}")
    print(f"  50,000-point batches             {big_rate:>12,.0f}")
    print(f"  plain binary COPY                {plain_rate:>12,.0f}   (no key, latest or rollups)")
    print(
        f"bytes on disk per million points: raw {raw_bytes / stored * 1e6 / 2**20:,.1f} MiB, "
        f"with series, latest and rollups {all_bytes / stored * 1e6 / 2**20:,.1f} MiB ({stored:,} points)"
    )
    print(
        "hourly aggregate of one series over the table: "
        f"rollups {rollup_s * 1000:.1f} ms, raw {raw_s * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
