"""Backends of the contract suites: each port's suite runs once per backend listed here."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openiiot.services.ports import TelemetryStore
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore

# Makes a store of one backend; `raw_only=True` asks for one that answers aggregates from raw points only.
TelemetryFactory = Callable[[bool], TelemetryStore]


def _memory(_tmp: Path, _raw_only: bool) -> TelemetryStore:
    return MemoryTelemetryStore()


_files = itertools.count()


def _duckdb(tmp: Path, raw_only: bool) -> TelemetryStore:
    return DuckDBTelemetryStore(tmp / f"telemetry-{next(_files)}.duckdb", use_rollups=not raw_only)


# A PostgreSQL backend joins as another entry whose maker calls tests.conftest.require_service when the
# database is missing.
TELEMETRY_BACKENDS: dict[str, Callable[[Path, bool], TelemetryStore]] = {
    "memory": _memory,
    "duckdb": _duckdb,
}


@pytest.fixture(params=sorted(TELEMETRY_BACKENDS))
def telemetry_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryFactory]:
    """Makes stores of one backend and closes them all after the test."""
    made: list[TelemetryStore] = []
    maker = TELEMETRY_BACKENDS[request.param]

    def make(raw_only: bool = False) -> TelemetryStore:
        store = maker(tmp_path, raw_only)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(telemetry_factory: TelemetryFactory) -> TelemetryStore:
    """A fresh, empty telemetry store of the backend under test."""
    return telemetry_factory(False)
