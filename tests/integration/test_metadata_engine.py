"""The metadata engine on a real SQLite file: pragmas, several threads, URL handling."""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from openiiot.domain.errors import ConfigurationError, Overloaded
from openiiot.domain.model import Device, DeviceProfile, Tenant
from openiiot.storage.sql.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_metadata_engine,
    normalize_database_url,
    sqlite_url,
)
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_metadata_engine(sqlite_url(tmp_path / "metadata.sqlite"))
    upgrade_to_head(engine)
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.tenants.add(Tenant(id="t", name="T"))
        uow.profiles.add(DeviceProfile(id="p", tenant_id="t", name="p"))
        uow.devices.add(Device(id="shared", tenant_id="t", name="shared", profile_id="p"))
        uow.commit()
    yield engine
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS


def _run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_units_of_work_in_several_threads_all_commit(engine: Engine) -> None:
    uow_factory = SqlUnitOfWorkFactory(engine)

    def add_devices(worker: int) -> None:
        for i in range(20):
            with uow_factory() as uow:
                uow.devices.add(
                    Device(id=f"w{worker}-{i}", tenant_id="t", name=f"w{worker}-{i}", profile_id="p")
                )
                uow.commit()

    def read_then_write(worker: int) -> None:
        # read-then-write on the same row from every thread: must wait, never fail with "database is locked"
        for i in range(20):
            with uow_factory() as uow:
                device = uow.devices.get("t", "shared")
                uow.devices.update(replace(device, label=f"{worker}-{i}"))
                uow.commit()

    assert _run_threads(4, add_devices) == []
    assert _run_threads(4, read_then_write) == []
    with uow_factory() as uow:
        assert uow.devices.count("t") == 1 + 4 * 20


def test_postgresql_urls_are_pinned_to_psycopg() -> None:
    assert normalize_database_url("postgresql://u:p@db/openiiot") == "postgresql+psycopg://u:p@db/openiiot"
    assert normalize_database_url("postgres://db/openiiot") == "postgresql+psycopg://db/openiiot"
    assert normalize_database_url("postgresql+psycopg://db/x") == "postgresql+psycopg://db/x"
    assert normalize_database_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


def test_a_postgresql_url_makes_a_psycopg_engine_or_says_what_to_install() -> None:
    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(ConfigurationError, match="psycopg"):
            create_metadata_engine("postgresql://user:secret@localhost/openiiot")
    else:
        engine = create_metadata_engine("postgresql://user:secret@localhost/openiiot")  # does not connect
        assert engine.dialect.driver == "psycopg"
        engine.dispose()


def test_unsupported_or_malformed_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        create_metadata_engine("mysql://db/openiiot")
    with pytest.raises(ConfigurationError):
        create_metadata_engine("not a url")


def test_a_writer_blocked_past_the_busy_timeout_gets_overloaded(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "busy.sqlite")
    upgrade_to_head(url)
    holder = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None)
    engine = create_metadata_engine(url, busy_timeout_ms=50)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        with SqlUnitOfWorkFactory(engine)() as uow, pytest.raises(Overloaded):
            uow.tenants.add(Tenant(id="t", name="T"))
        holder.execute("ROLLBACK")
        with SqlUnitOfWorkFactory(engine)() as uow:  # and works again once the lock is released
            uow.tenants.add(Tenant(id="t", name="T"))
            uow.commit()
    finally:
        holder.close()
        engine.dispose()
