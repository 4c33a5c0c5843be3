"""Alembic migrations of the metadata database on real SQLite files and real PostgreSQL databases."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from openiiot.domain.alarms import RawSample, RuleState, evaluate, parse_rule
from openiiot.domain.errors import ConfigurationError
from openiiot.domain.model import Tenant
from openiiot.services.alarm_state_store import load_states
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from openiiot.storage.sql.tables import metadata
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, never migrated database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "metadata.sqlite")
        return
    from tests.postgres_support import temporary_database

    with temporary_database() as url:
        yield url


def test_a_fresh_database_is_migrated_to_head(database_url: str) -> None:
    upgrade_to_head(database_url)  # from a URL: opens and disposes its own engine
    engine = create_metadata_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrading_again_after_a_restart_changes_nothing(database_url: str) -> None:
    first = create_metadata_engine(database_url)
    upgrade_to_head(first)
    with SqlUnitOfWorkFactory(first)() as uow:
        uow.tenants.add(Tenant(id="t", name="Kept"))
        uow.commit()
    first.dispose()
    second = create_metadata_engine(database_url)  # the next start of the platform
    try:
        upgrade_to_head(second)
        upgrade_to_head(second)
        assert current_revision(second) == head_revision()
        with SqlUnitOfWorkFactory(second)() as uow:
            assert [t.name for t in uow.tenants.list()] == ["Kept"]
    finally:
        second.dispose()


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade_to_head(database_url)  # each "process" with its own engine
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    engine = create_metadata_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_metadata_engine(database_url)
    try:
        upgrade_to_head(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    engine = create_metadata_engine(database_url)
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


def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    engine = create_metadata_engine(database_url)
    try:
        upgrade_to_head(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(ConfigurationError, match="9999"):
            upgrade_to_head(engine)
    finally:
        engine.dispose()


def test_devices_that_already_have_children_become_gateways(database_url: str) -> None:
    from alembic.script import ScriptDirectory

    engine = create_metadata_engine(database_url)
    try:
        config = alembic_config()
        before = ScriptDirectory.from_config(config).get_revision("0013").down_revision
        assert isinstance(before, str)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, before)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tenants (id, name, timezone, retention_days) VALUES ('t', 'T', 'UTC', 30)")
            )
            connection.execute(
                text(
                    "INSERT INTO device_profiles (id, tenant_id, name, keys, strict, inactivity_timeout_s,"
                    " description) VALUES ('p', 't', 'P', '[]', false, 600, '')"
                )
            )
            for device_id, gateway_id in (("gw", None), ("child", "gw"), ("plain", None)):
                connection.execute(
                    text(
                        "INSERT INTO devices (id, tenant_id, name, profile_id, gateway_id, label, token_hash,"
                        " disabled, created_ms) VALUES (:id, 't', :id, 'p', :gw, '', '', false, 0)"
                    ),
                    {"id": device_id, "gw": gateway_id},
                )
        upgrade_to_head(engine)
        with engine.connect() as connection:
            flags = dict(connection.execute(text("SELECT id, is_gateway FROM devices")).all())
        assert {k: bool(v) for k, v in flags.items()} == {"gw": True, "child": False, "plain": False}
    finally:
        engine.dispose()


def test_rule_states_of_before_0012_keep_their_windows_through_upgrade_and_downgrade(
    database_url: str,
) -> None:
    """0012 moves the windows out of each stored state into alarm_window_chunks, and back on downgrade."""
    rule = parse_rule(
        {
            "id": "r1",
            "name": "Drift or trips",
            "alarm_type": "Drift",
            "levels": [
                {
                    "severity": "warning",
                    "condition": {
                        "type": "or",
                        "children": [
                            {"type": "deviation", "key": "t", "window_s": 60, "min_samples": 5, "sigma": 3},
                            {"type": "rate", "key": "t", "op": ">", "value": 5, "per": "s", "window_s": 30},
                            {
                                "type": "count",
                                "condition": {"type": "threshold", "key": "t", "op": ">", "value": 80.4},
                                "count": 500,
                                "window_s": 60,
                            },
                        ],
                    },
                }
            ],
        }
    )
    samples: list[RawSample] = [(i * 250, "t", 80.0 + (i % 7) / 10) for i in range(400)]
    state, _ = evaluate(rule, RuleState(), samples, 100_000)
    old = state.to_dict()  # the document as 0003..0011 stored it, windows inline
    assert all(old["windows"].values()) and all(old["count_ts_ms"].values())
    engine = create_metadata_engine(database_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0011")
            connection.execute(
                text("INSERT INTO alarm_rule_states VALUES ('r1', 'dev-1', 't-a', :state, 3)"),
                {"state": json.dumps(old)},
            )
        upgrade_to_head(engine)
        with SqlUnitOfWorkFactory(engine)() as uow:
            [(row, version)] = uow.alarms.get_versioned_states([("r1", "dev-1")]).values()
            stored = load_states(uow.alarms, [("r1", "dev-1")])[("r1", "dev-1")]
        assert (row["version"], version) == (2, 3)
        assert "windows" not in row and stored.state.to_dict() == old
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0011")
            [document] = connection.execute(text("SELECT state FROM alarm_rule_states")).scalars()
        assert json.loads(document) == json.loads(json.dumps(old))
    finally:
        engine.dispose()
