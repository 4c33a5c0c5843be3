"""Alembic migrations of the metadata database on real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from openiiot.domain.errors import ConfigurationError
from openiiot.domain.model import Tenant
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from openiiot.storage.sql.tables import metadata
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration


def test_a_fresh_file_is_migrated_to_head(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.sqlite")
    upgrade_to_head(url)  # from a URL: opens and disposes its own engine
    engine = create_metadata_engine(url)
    try:
        assert current_revision(engine) == head_revision() == "0001"
        tables = set(inspect(engine).get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrading_again_after_a_restart_changes_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "restart.sqlite")
    first = create_metadata_engine(url)
    upgrade_to_head(first)
    with SqlUnitOfWorkFactory(first)() as uow:
        uow.tenants.add(Tenant(id="t", name="Kept"))
        uow.commit()
    first.dispose()
    second = create_metadata_engine(url)  # the next start of the platform
    try:
        upgrade_to_head(second)
        upgrade_to_head(second)
        assert current_revision(second) == head_revision()
        with SqlUnitOfWorkFactory(second)() as uow:
            assert [t.name for t in uow.tenants.list()] == ["Kept"]
    finally:
        second.dispose()


def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = create_metadata_engine(sqlite_url(tmp_path / "compare.sqlite"))
    try:
        upgrade_to_head(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    engine = create_metadata_engine(sqlite_url(tmp_path / "down.sqlite"))
    try:
        upgrade_to_head(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    engine = create_metadata_engine(sqlite_url(tmp_path / "newer.sqlite"))
    try:
        upgrade_to_head(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(ConfigurationError, match="9999"):
            upgrade_to_head(engine)
    finally:
        engine.dispose()
