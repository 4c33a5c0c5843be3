"""The two stacks the integration suite runs on: `embedded` and `production`.

- embedded: a SQLite metadata file, in-memory (API tests) or DuckDB (platform) telemetry, the embedded
  broker on a free port — what `openiiot serve` runs with no configuration.
- production: PostgreSQL metadata (the same Alembic migrations) with PostgresTelemetryStore, and, for a
  platform, a private Mosquitto 2 with dynamic security started by the test; the platform reaches it the
  way OPENIIOT_MQTT_URL tells it to, so devices authenticate at Mosquitto.

Every test that takes the `stack` fixture (directly or through `api`, `platform`, ...) runs once per stack;
its id ends in `[embedded]` or `[production]`. On a machine without PostgreSQL or Mosquitto the production
runs skip, saying how to provide them; under CI (OPENIIOT_TEST_REQUIRE_SERVICES=1) they fail instead.
OPENIIOT_TEST_STACKS=embedded (or =production) runs one stack only; `-k embedded` selects the same.

PostgreSQL costs one database per test module (migrated once), emptied before each test: metadata tables
truncated, the telemetry schema dropped (the store creates it again). Mosquitto starts per test that
builds a platform (a fraction of a second) so no dynamic-security client outlives its test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.integration.mosquitto_fixtures import Mosquitto, start_mosquitto, stop_mosquitto

from openiiot.services.ports import TelemetryStore
from openiiot.settings import Settings, load_settings
from openiiot.sim.mqtt_pool import free_tcp_port
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.tables import metadata

EMBEDDED, PRODUCTION = "embedded", "production"
ALL_STACKS = (EMBEDDED, PRODUCTION)


def selected_stacks() -> list[str]:
    """The stacks to run: all, or those named in OPENIIOT_TEST_STACKS (comma-separated)."""
    wanted = os.environ.get("OPENIIOT_TEST_STACKS", "").strip()
    if not wanted:
        return list(ALL_STACKS)
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL_STACKS))
    if unknown:
        raise pytest.UsageError(
            f"OPENIIOT_TEST_STACKS names unknown stacks {unknown}; choose from {', '.join(ALL_STACKS)}"
        )
    return names


@dataclass
class Stack:
    """One test's view of a stack: where its metadata lives, its telemetry store, a platform's settings."""

    name: str
    directory: Path
    postgres_url: str | None = None  # the module's database, emptied for this test (production)
    broker: Mosquitto | None = None  # started by the first platform_settings() call (production)
    _opened: list[TelemetryStore] = field(default_factory=list)

    @property
    def production(self) -> bool:
        return self.name == PRODUCTION

    def metadata_url(self) -> str:
        """An empty metadata database: a new SQLite file, or the module's emptied PostgreSQL database."""
        if self.postgres_url is not None:
            return self.postgres_url
        return sqlite_url(self.directory / "metadata.sqlite")

    def telemetry_store(self) -> TelemetryStore:
        """An empty telemetry store beside the metadata (in memory, or PostgreSQL); closed after the test."""
        store: TelemetryStore
        if self.postgres_url is not None:
            from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore

            store = PostgresTelemetryStore(self.postgres_url, max_readers=2)
        else:
            store = MemoryTelemetryStore()
        self._opened.append(store)
        return store

    def platform_settings(self, data_dir: Path, **overrides: object) -> Settings:
        """Settings of a whole platform on this stack (bootstrap.build_platform picks the adapters).

        In production the settings also name the Mosquitto port as `mqtt_port` (which the platform ignores
        when `mqtt_url` is set), so test devices find the broker as `platform.settings.mqtt_port` on both.
        """
        values: dict[str, object] = {"data_dir": data_dir, "http_port": free_tcp_port()}
        if self.production:
            if self.broker is None:
                self.broker = start_mosquitto(self.directory / "mosquitto")
            values.update(
                database_url=self.postgres_url, mqtt_url=self.broker.url, mqtt_port=self.broker.port
            )
        else:
            values["mqtt_port"] = free_tcp_port()
        values.update(overrides)
        return load_settings(**values)

    def close(self) -> None:
        """Close the stores handed out and stop the broker."""
        for store in self._opened:
            store.close()
        self._opened.clear()
        if self.broker is not None:
            stop_mosquitto(self.broker)
            self.broker = None


def empty_database(url: str) -> None:
    """Truncate every metadata table and drop the telemetry schema of a migrated database."""
    import psycopg

    engine = create_metadata_engine(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join(t.name for t in metadata.sorted_tables)
            connection.exec_driver_sql(f"TRUNCATE {tables} CASCADE")
    finally:
        engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS telemetry CASCADE")


@pytest.fixture(scope="module")
def stack_database(postgres_database: str) -> str:
    """The module's PostgreSQL database, migrated once (tests/conftest.postgres_database)."""
    engine = create_metadata_engine(postgres_database)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    return postgres_database


def open_stack(name: str, request: pytest.FixtureRequest, directory: Path) -> Stack:
    """A stack of this name for the requesting test; production empties the module's database first."""
    if name == PRODUCTION:
        url: str = request.getfixturevalue("stack_database")
        empty_database(url)
        return Stack(name, directory, postgres_url=url)
    return Stack(name, directory)


@pytest.fixture(params=selected_stacks())
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The stack under test, once per stack (ids `[embedded]`, `[production]`)."""
    opened = open_stack(request.param, request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()
