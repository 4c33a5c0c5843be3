"""Append throughput of the DuckDB telemetry store: 5,000-point batches into a table of N million rows.

Printed side by side, measured in the same run on the same data:
- the store's append (idempotent INSERT OR REPLACE, latest values, 1-minute and 1-hour rollups);
- a plain Arrow INSERT into a DuckDB table of the same shape without key, latest or rollups (the floor);
- the in-memory fake.
Then one aggregate over the whole table, from rollups and from raw points.

    python benchmarks/telemetry_append.py --million 5 --batches 60
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from openiiot.domain.telemetry import Aggregate, Interval, TelemetryBatch
from openiiot.services.ports import TelemetryStore
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore

DEVICES, KEYS = 1_000, 5  # 5,000 series: one batch = one sample of every series
T0_MS = 1_700_000_000_000


def make_batch(step: int) -> TelemetryBatch:
    """One sample of every series at second `step`."""
    batch = TelemetryBatch()
    ts = T0_MS + step * 1000
    for d in range(DEVICES):
        for k in range(KEYS):
            batch.add(f"dev-{d}", f"k{k}", ts, float((d * 7 + k + step) % 1000))
    return batch


def prefill(store: TelemetryStore, steps: int) -> float:
    """Append `steps` samples of every series in large batches; return seconds taken."""
    started = time.perf_counter()
    chunk = 50
    for first in range(0, steps, chunk):
        big = TelemetryBatch()
        for step in range(first, min(first + chunk, steps)):
            big.extend(make_batch(step))
        store.append(big)
    return time.perf_counter() - started


def timed_appends(store: TelemetryStore, batches: list[TelemetryBatch]) -> float:
    """Points/s of appending `batches` one by one."""
    started = time.perf_counter()
    for batch in batches:
        store.append(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - started)


def plain_insert_rate(path: Path, rows: int, batches: list[TelemetryBatch]) -> float:
    """Points/s of a bare Arrow INSERT (no key, no latest, no rollups) into a table of `rows` rows."""
    db = duckdb.connect(str(path))
    db.execute("CREATE TABLE raw (series_id BIGINT, ts BIGINT, value DOUBLE, text VARCHAR, quality TINYINT)")
    db.execute(
        f"INSERT INTO raw SELECT i % {DEVICES * KEYS}, {T0_MS} + (i // {DEVICES * KEYS}) * 1000, "
        f"(i % 1000)::DOUBLE, NULL, 0 FROM range({rows}) t(i)"
    )
    tables = [
        pa.table(
            {
                "series_id": pa.array(range(len(b)), pa.int64()),
                "ts": pa.array(b.ts_ms, pa.int64()),
                "value": pa.array(b.value, pa.float64()),
                "text": pa.array(b.text, pa.string()),
                "quality": pa.array(b.quality, pa.int8()),
            }
        )
        for b in batches
    ]
    started = time.perf_counter()
    for table in tables:
        db.execute("BEGIN")
        db.register("batch_in", table)
        db.execute("INSERT INTO raw SELECT * FROM batch_in")
        db.unregister("batch_in")
        db.execute("COMMIT")
    rate = sum(t.num_rows for t in tables) / (time.perf_counter() - started)
    db.close()
    return rate


def query_seconds(store: TelemetryStore, end_ms: int) -> float:
    """Seconds for an hourly aggregate of one series over the whole table, in Shanghai time."""
    started = time.perf_counter()
    store.aggregate("dev-1", ["k1"], T0_MS, end_ms, Interval(ms=3_600_000), list(Aggregate), "Asia/Shanghai")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", type=float, default=5.0, help="rows already in the table")
    parser.add_argument("--batches", type=int, default=60, help="timed 5,000-point batches")
    args = parser.parse_args()
    steps = int(args.million * 1_000_000) // (DEVICES * KEYS)
    rows = steps * DEVICES * KEYS
    batches = [make_batch(steps + i) for i in range(args.batches)]
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBTelemetryStore(Path(tmp) / "telemetry.duckdb")
        print(f"prefill {rows:,} rows: {prefill(store, steps):.1f} s")
        duck_rate = timed_appends(store, batches)
        resent_rate = timed_appends(store, batches[:10])  # duplicates: every row is replaced
        end_ms = T0_MS + (steps + args.batches) * 1000
        rollup_s = query_seconds(store, end_ms)
        store.close()
        raw_store = DuckDBTelemetryStore(Path(tmp) / "telemetry.duckdb", use_rollups=False)
        raw_s = query_seconds(raw_store, end_ms)
        raw_store.close()
        plain_rate = plain_insert_rate(Path(tmp) / "plain.duckdb", rows, batches)
    memory_rate = timed_appends(MemoryTelemetryStore(), batches)
    print(f"5,000-point batches into {rows:,} rows (points/s):")
    print(f"  DuckDBTelemetryStore.append      {duck_rate:>12,.0f}")
    print(f"  same, re-sent duplicates         {resent_rate:>12,.0f}")
    print(f"  plain DuckDB Arrow INSERT        {plain_rate:>12,.0f}   (no key, latest or rollups)")
    print(f"  MemoryTelemetryStore.append      {memory_rate:>12,.0f}")
    print(
        "hourly aggregate of one series over the table: "
        f"rollups {rollup_s * 1000:.1f} ms, raw {raw_s * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
