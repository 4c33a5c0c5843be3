"""What the DuckDB telemetry store promises beyond the port: a durable file, atomic batches, threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from openiiot.domain.errors import OpenIIoTError, ValidationFailed
from openiiot.domain.telemetry import Aggregate, Interval, TelemetryBatch
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore


def _batch(device: str, key: str, start_ts: int, n: int) -> TelemetryBatch:
    batch = TelemetryBatch()
    for i in range(n):
        batch.add(device, key, start_ts + i * 1000, float(i))
    return batch


def test_data_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    store = DuckDBTelemetryStore(path)
    store.append(_batch("d1", "t", 0, 10))
    store.close()
    reopened = DuckDBTelemetryStore(path)
    try:
        reopened.append(_batch("d1", "u", 0, 5))  # a new series after reopening gets a fresh id
        assert len(reopened.raw("d1", ["t"], 0, 10**9).points) == 10
        assert len(reopened.raw("d1", ["u"], 0, 10**9).points) == 5
        assert reopened.latest(["d1"])["d1"]["t"].value == 9.0
    finally:
        reopened.close()


def test_a_rejected_batch_stores_nothing(tmp_path: Path) -> None:
    store = DuckDBTelemetryStore(tmp_path / "t.duckdb")
    try:
        bad = _batch("d1", "t", 0, 3)
        bad.add("d2", "t", 2**70, 1.0)  # ts beyond 64 bits
        with pytest.raises(ValidationFailed):
            store.append(bad)
        assert store.raw("d1", None, 0, 10**9).points == []
        assert store.latest(["d1", "d2"]) == {"d1": {}, "d2": {}}
        assert store.append(_batch("d2", "t", 0, 2)) == 2  # the series of the failed batch is usable
    finally:
        store.close()


def test_queries_run_while_another_thread_appends(tmp_path: Path) -> None:
    store = DuckDBTelemetryStore(tmp_path / "t.duckdb")
    errors: list[BaseException] = []
    batches = 100

    def ingest() -> None:
        try:
            for b in range(batches):
                store.append(_batch("d1", "t", b * 1_000_000, 500))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    counts: list[int] = []
    deadline = time.monotonic() + 60
    while writer.is_alive() and time.monotonic() < deadline:
        rows = store.aggregate("d1", ["t"], 0, 10**12, Interval(months=1), [Aggregate.COUNT])["t"]
        counts.append(sum(r.count for r in rows))
        store.raw("d1", None, 0, 10**12, limit=10)
    writer.join(timeout=60)
    try:
        assert not errors
        assert counts, "the reader never ran while the writer was appending"
        # every reader saw whole batches only (one transaction per batch), never fewer points later
        assert all(c % 500 == 0 for c in counts)
        assert counts == sorted(counts)
        assert (
            store.aggregate("d1", ["t"], 0, 10**12, Interval(months=1), [Aggregate.COUNT])["t"][0].count
            == batches * 500
        )
    finally:
        store.close()


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = DuckDBTelemetryStore(tmp_path / "t.duckdb")
    store.close()
    store.close()  # idempotent
    with pytest.raises(OpenIIoTError):
        store.append(_batch("d1", "t", 0, 1))
    with pytest.raises(OpenIIoTError):
        store.latest(["d1"])
