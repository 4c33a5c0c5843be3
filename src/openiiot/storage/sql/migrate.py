"""Apply the Alembic migrations programmatically: no alembic.ini is needed at run time."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from openiiot.domain.errors import ConfigurationError, Overloaded
from openiiot.storage.sql.engine import SQLITE_BEGIN_OPTION, create_metadata_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_WAIT_S = 120.0  # how long a process waits for another one migrating the same database


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships at least the initial revision
        raise ConfigurationError("no metadata migrations found in the package")
    return head


def upgrade_to_head(engine_or_url: Engine | str) -> None:
    """Bring the metadata schema to the newest revision; a no-op when it is already there."""
    if isinstance(engine_or_url, str):
        engine = create_metadata_engine(engine_or_url)
        try:
            _upgrade(engine)
        finally:
            engine.dispose()
    else:
        _upgrade(engine_or_url)


def _upgrade(engine: Engine) -> None:
    # processes starting together take turns: one migrates under the lock while the others wait; on SQLite a
    # wait longer than the engine's busy timeout (a slow machine migrating a new file) is an Overloaded, so
    # the others ask again until MIGRATION_WAIT_S has passed
    deadline = time.monotonic() + MIGRATION_WAIT_S
    while True:
        try:
            _upgrade_once(engine)
            return
        except Overloaded:
            if time.monotonic() > deadline:
                raise
            log.info("another process is migrating the metadata database; waiting")
            time.sleep(0.5)


def _upgrade_once(engine: Engine) -> None:
    config = alembic_config()
    before = current_revision(engine)
    try:
        with engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).begin() as connection:
            if connection.dialect.name == "postgresql":
                # PostgreSQL's counterpart of BEGIN IMMEDIATE: a second process starting at the same time
                # waits here, then finds the schema at head instead of failing on CREATE TABLE
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('openiiot.migrations'))")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except CommandError as exc:
        # typically a database migrated by a newer OpenIIoT: refuse rather than guess
        raise ConfigurationError(
            f"cannot migrate the metadata database from revision {before!r}: {exc}"
        ) from exc
    after = current_revision(engine)
    if after != before:
        log.info("metadata schema migrated", extra={"from_revision": before, "to_revision": after})


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
