"""What the PostgreSQL telemetry store promises beyond the port: day partitions, several processes, faults.

Runs against the server of OPENIIOT_TEST_POSTGRES_URL (see tests/postgres_support.py). Only the native
partition layout can be exercised where TimescaleDB is not installed; those tests say so when skipped.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from openiiot.domain.errors import ConfigurationError, OpenIIoTError, ValidationFailed
from openiiot.domain.telemetry import Aggregate, Interval, TelemetryBatch
from openiiot.storage.telemetry.postgres_schema import Layout
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore

DAY_MS = 86_400_000
_names = itertools.count()


def _batch(device: str, key: str, start_ts: int, n: int, step_ms: int = 1000) -> TelemetryBatch:
    batch = TelemetryBatch()
    for i in range(n):
        batch.add(device, key, start_ts + i * step_ms, float(i))
    return batch


def _timescale_installed(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
            is not None
        )


@pytest.fixture
def schema_name(postgres_database: str) -> Iterator[str]:
    """A schema name unique to the test, dropped afterwards."""
    name = f"pgtest_{next(_names)}"
    yield name
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def store(postgres_database: str, schema_name: str) -> Iterator[PostgresTelemetryStore]:
    opened = PostgresTelemetryStore(postgres_database, schema_name=schema_name, timescale=False)
    yield opened
    opened.close()


def _partitions(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
            [f"{schema}.raw"],
        ).fetchall()
    return [name for (name,) in rows]


def _count(store: PostgresTelemetryStore, device: str, key: str) -> int:
    rows = store.aggregate(device, [key], 0, 10**13, Interval(months=1), [Aggregate.COUNT])[key]
    return sum(r.count for r in rows)


def test_raw_points_land_in_day_partitions_created_on_demand(
    store: PostgresTelemetryStore, postgres_database: str, schema_name: str
) -> None:
    assert store.layout is Layout.NATIVE
    assert _partitions(postgres_database, schema_name) == []
    store.append(_batch("d1", "t", 3 * DAY_MS - 2000, 4))  # spans the end of day 2 and the start of day 3
    assert _partitions(postgres_database, schema_name) == ["raw_d2", "raw_d3"]
    store.append(_batch("d1", "t", -1000, 1))  # before 1970: day -1
    assert "raw_dn1" in _partitions(postgres_database, schema_name)
    assert len(store.raw("d1", None, -(10**9), 10**13).points) == 5


def test_dropping_partitions_removes_whole_old_days_and_keeps_rollups(
    store: PostgresTelemetryStore, postgres_database: str, schema_name: str
) -> None:
    for day in range(4):
        store.append(_batch("d1", "t", day * DAY_MS, 10, step_ms=60_000))
    assert store.drop_partitions_before(2 * DAY_MS + 5) == 2  # day 2 is not over at the cutoff: kept
    assert _partitions(postgres_database, schema_name) == ["raw_d2", "raw_d3"]
    assert [p.ts_ms // DAY_MS for p in store.raw("d1", None, 0, 10**13, limit=100).points] == [2] * 10 + [
        3
    ] * 10
    daily = store.aggregate("d1", ["t"], 0, 4 * DAY_MS, Interval(ms=DAY_MS), [Aggregate.COUNT])["t"]
    assert [r.count for r in daily] == [10, 10, 10, 10]  # rollups outlive raw, as with delete_before
    store.append(_batch("d1", "t", 0, 1))  # a late point for a dropped day recreates its partition
    assert store.raw("d1", None, 0, DAY_MS).points[0].value == 0.0


def test_a_second_process_sees_partitions_the_first_dropped(
    store: PostgresTelemetryStore, postgres_database: str, schema_name: str
) -> None:
    other = PostgresTelemetryStore(postgres_database, schema_name=schema_name)
    try:
        store.append(_batch("d1", "t", 0, 2))
        other.append(_batch("d1", "t", 10_000, 2))  # other's cache now knows day 0
        store.drop_partitions_before(DAY_MS)
        assert other.append(_batch("d1", "t", 20_000, 2)) == 2  # stale cache: recreated, not an error
        assert [p.ts_ms for p in store.raw("d1", None, 0, DAY_MS).points] == [20_000, 21_000]
    finally:
        other.close()


def test_data_and_series_survive_reopening(
    store: PostgresTelemetryStore, postgres_database: str, schema_name: str
) -> None:
    store.append(_batch("d1", "t", 0, 10))
    store.close()
    reopened = PostgresTelemetryStore(postgres_database, schema_name=schema_name)
    try:
        assert reopened.layout is Layout.NATIVE  # an existing schema keeps its layout
        reopened.append(_batch("d1", "u", 0, 5))
        assert len(reopened.raw("d1", ["t"], 0, 10**9).points) == 10
        assert len(reopened.raw("d1", ["u"], 0, 10**9).points) == 5
        assert reopened.latest(["d1"])["d1"]["t"].value == 9.0
    finally:
        reopened.close()


def test_two_processes_appending_the_same_series_lose_nothing(
    store: PostgresTelemetryStore, postgres_database: str, schema_name: str
) -> None:
    other = PostgresTelemetryStore(postgres_database, schema_name=schema_name)
    errors: list[BaseException] = []

    def ingest(target: PostgresTelemetryStore, offset_ms: int) -> None:
        try:
            for b in range(20):  # interleaved timestamps of the same series and the same minutes
                target.append(_batch("d1", "t", b * 100_000 + offset_ms, 50, step_ms=2))
                target.append(_batch(f"dev-{b}", "t", 0, 5))  # the very same points
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(s, o)) for s, o in ((store, 0), (other, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    other.close()
    assert not errors
    assert _count(store, "d1", "t") == 20 * 50 * 2
    assert len(store.raw("d1", None, 0, 10**13, limit=10_000).points) == 20 * 50 * 2
    assert all(_count(store, f"dev-{b}", "t") == 5 for b in range(20))  # same ts: one row per point


def test_a_rejected_batch_stores_nothing(store: PostgresTelemetryStore) -> None:
    bad = _batch("d1", "t", 0, 3)
    bad.add("d2", "t", 2**70, 1.0)  # ts beyond 64 bits
    with pytest.raises(ValidationFailed):
        store.append(bad)
    bad = _batch("d1", "t", 0, 3)
    bad.add("d2", "t", 5000, "not a number")  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        store.append(bad)
    assert store.raw("d1", None, 0, 10**9).points == []
    assert store.latest(["d1", "d2"]) == {"d1": {}, "d2": {}}
    assert store.append(_batch("d2", "t", 0, 2)) == 2  # the series of the failed batch is usable


def test_queries_run_while_another_thread_appends(store: PostgresTelemetryStore) -> None:
    errors: list[BaseException] = []
    batches = 60

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
        counts.append(_count(store, "d1", "t"))
        store.raw("d1", None, 0, 10**12, limit=10)
    writer.join(timeout=60)
    assert not errors
    assert counts, "the reader never ran while the writer was appending"
    # every reader saw whole batches only (one transaction per batch), never fewer points later
    assert all(c % 500 == 0 for c in counts)
    assert counts == sorted(counts)
    assert _count(store, "d1", "t") == batches * 500


def test_the_writer_reconnects_after_the_server_drops_it(
    store: PostgresTelemetryStore, postgres_database: str
) -> None:
    store.append(_batch("d1", "t", 0, 2))
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        # every other connection to the test database, as a server restart would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert store.append(_batch("d1", "t", 10_000, 2)) == 2
    assert len(store.raw("d1", None, 0, 10**9).points) == 4


def test_a_closed_store_refuses_work(store: PostgresTelemetryStore) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(OpenIIoTError):
        store.append(_batch("d1", "t", 0, 1))
    with pytest.raises(OpenIIoTError):
        store.latest(["d1"])


def test_demanding_timescaledb_without_it_fails_with_advice(postgres_database: str, schema_name: str) -> None:
    if _timescale_installed(postgres_database):
        pytest.skip("TimescaleDB is installed on this server; the refusal cannot be shown")
    with pytest.raises(ConfigurationError, match="TimescaleDB"):
        PostgresTelemetryStore(postgres_database, schema_name=schema_name, timescale=True)


def test_automatic_layout_uses_timescaledb_only_when_installed(
    postgres_database: str, schema_name: str
) -> None:
    store = PostgresTelemetryStore(postgres_database, schema_name=schema_name)
    try:
        expected = Layout.TIMESCALE if _timescale_installed(postgres_database) else Layout.NATIVE
        assert store.layout is expected
    finally:
        store.close()


@pytest.mark.parametrize(
    ("change", "advice"),
    [
        ({"port": "1"}, "server is running"),
        ({"dbname": "no_such_database"}, "database name"),
        ({"user": "no_such_user"}, "user"),
    ],
)
def test_misconfiguration_fails_fast_with_advice(
    postgres_database: str, change: dict[str, str], advice: str
) -> None:
    parts = urlsplit(postgres_database)
    netloc = f"{change.get('user', parts.username)}@{parts.hostname}:{change.get('port', parts.port)}"
    path = "/" + change.get("dbname", parts.path.lstrip("/"))
    url = urlunsplit(parts._replace(netloc=netloc, path=path))
    with pytest.raises(ConfigurationError, match="OPENIIOT_DATABASE_URL") as caught:
        PostgresTelemetryStore(url, connect_timeout_s=2)
    assert advice in str(caught.value)
