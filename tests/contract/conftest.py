"""Backends of the contract suites: each port's suite runs once per backend listed here."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from openiiot.services.ports import TelemetryStore
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore

# Makes a store of one backend; `raw_only=True` asks for one that answers aggregates from raw points only.
TelemetryFactory = Callable[[bool], TelemetryStore]
# A backend's maker gets the test's request (to ask for fixtures such as a database), a scratch directory
# and `raw_only`; it returns the store and a clean-up to run after the store is closed.
Maker = Callable[[pytest.FixtureRequest, Path, bool], tuple[TelemetryStore, Callable[[], None] | None]]


def _memory(_request: pytest.FixtureRequest, _tmp: Path, _raw_only: bool) -> tuple[TelemetryStore, None]:
    return MemoryTelemetryStore(), None


_files = itertools.count()


def _duckdb(_request: pytest.FixtureRequest, tmp: Path, raw_only: bool) -> tuple[TelemetryStore, None]:
    return DuckDBTelemetryStore(tmp / f"telemetry-{next(_files)}.duckdb", use_rollups=not raw_only), None


_schemas = itertools.count()


def _postgres(
    request: pytest.FixtureRequest, _tmp: Path, raw_only: bool
) -> tuple[TelemetryStore, Callable[[], None]]:
    # One database per test module (conftest.postgres_database); each store gets a schema of its own, so
    # stores of one test are as independent as two files, and the schema is dropped after the test.
    url = request.getfixturevalue("postgres_database")
    schema = f"telemetry_{next(_schemas)}"
    store = PostgresTelemetryStore(url, schema_name=schema, use_rollups=not raw_only, max_readers=2)

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return store, drop


TELEMETRY_BACKENDS: dict[str, Maker] = {
    "memory": _memory,
    "duckdb": _duckdb,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(TELEMETRY_BACKENDS))
def telemetry_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryFactory]:
    """Makes stores of one backend and closes them all after the test."""
    made: list[tuple[TelemetryStore, Callable[[], None] | None]] = []
    maker = TELEMETRY_BACKENDS[request.param]

    def make(raw_only: bool = False) -> TelemetryStore:
        store, cleanup = maker(request, tmp_path, raw_only)
        made.append((store, cleanup))
        return store

    yield make
    for store, cleanup in made:
        store.close()
        if cleanup is not None:
            cleanup()


@pytest.fixture
def store(telemetry_factory: TelemetryFactory) -> TelemetryStore:
    """A fresh, empty telemetry store of the backend under test."""
    return telemetry_factory(False)
