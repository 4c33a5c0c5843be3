"""Two ingest processes evaluating the same device: neither overwrites what the other just stored.

Each process has its own engine and its own connection pool on one SQLite file (PostgreSQL behaves the
same: see tests/contract/test_alarm_state_concurrency.py). The race is made deterministic: process B
evaluates and commits right after process A has read the rule state and before A writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.integration.stack_fixtures import Stack
from tests.unit.management_fixtures import (
    JWT_SECRET,
    NOW_MS,
    FakeClock,
    cheap_passwords,
    populate_tenant,
    principal,
)

from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_engine import AlarmEngine
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.management import build_services
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration

FOUR_IN_TEN_MINUTES: dict[str, Any] = {
    "id": "x",
    "name": "Repeated over-pressure",
    "alarm_type": "Over-pressure trips",
    "levels": [
        {
            "severity": "major",
            "condition": {
                "type": "count",
                "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8},
                "count": 4,
                "window_s": 600,
            },
        }
    ],
}


class RacingFactory:
    """Units of work of process A; the first state read lets `race` (process B) run before returning."""

    def __init__(self, inner: SqlUnitOfWorkFactory, race: Callable[[], None]) -> None:
        self._inner = inner
        self.race: Callable[[], None] | None = race

    def __call__(self) -> _RacingUnitOfWork:
        return _RacingUnitOfWork(self._inner(), self)


class _RacingUnitOfWork:
    def __init__(self, inner: SqlUnitOfWork, factory: RacingFactory) -> None:
        self._inner = inner
        self._factory = factory

    def __enter__(self) -> SqlUnitOfWork:
        uow = self._inner.__enter__()
        read, read_versioned = uow.alarms.get_states, uow.alarms.get_versioned_states

        def race_once() -> None:
            race, self._factory.race = self._factory.race, None
            if race is not None:
                race()

        def get_states(rule_ids: list[str], originator_id: str) -> dict[str, dict[str, Any] | None]:
            states = read(rule_ids, originator_id)
            race_once()
            return states

        def get_versioned_states(keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
            states = read_versioned(keys)
            race_once()
            return states

        uow.alarms.get_states = get_states  # type: ignore[method-assign]
        uow.alarms.get_versioned_states = get_versioned_states  # type: ignore[method-assign]
        return uow

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)


@pytest.fixture
def shared_database(stack: Stack) -> Iterator[str]:
    """One metadata database of the stack under test (SQLite or PostgreSQL), shared by two "processes"."""
    url = stack.metadata_url()
    engine = create_metadata_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    yield url
    while _engines:
        _engines.pop().dispose()


_engines: list[Engine] = []  # of the "processes" of the running test, closed after it


def _process(url: str) -> SqlUnitOfWorkFactory:
    engine = create_metadata_engine(url)
    _engines.append(engine)
    return SqlUnitOfWorkFactory(engine)


def _violations(device_id: str, *ts: int) -> TelemetryBatch:
    batch = TelemetryBatch()
    for t in ts:
        batch.add(device_id, "pressure_bar", t, 8.6, None)
    return batch


def test_the_second_writer_evaluates_again_on_top_of_the_first(shared_database: str) -> None:
    clock = FakeClock()
    process_a, process_b = _process(shared_database), _process(shared_database)
    services = build_services(
        process_a, MemoryTelemetryStore(), clock, JWT_SECRET, 900, passwords=cheap_passwords()
    )
    tenant = populate_tenant(services, "acme")
    services.alarms.create_rule(
        principal(Role.TENANT_ADMIN, tenant.tenant_id), tenant.profile_id, FOUR_IN_TEN_MINUTES
    )
    device = tenant.device_id

    engine_b = AlarmEngine(process_b, DeviceDirectory(process_b), clock)
    normal = TelemetryBatch()
    normal.add(device, "pressure_bar", NOW_MS - 1_000, 7.0, None)
    engine_b.on_batch(normal)  # the state row exists: the race is over an update, not a first insert
    racing = RacingFactory(process_a, lambda: engine_b.on_batch(_violations(device, NOW_MS, NOW_MS + 1_000)))
    engine_a = AlarmEngine(racing, DeviceDirectory(process_a), clock)  # type: ignore[arg-type]

    # A reads the state (no violation yet); B counts two and commits; A's write over the changed state is
    # refused, so A evaluates its two on top of B's two: four in ten minutes raise the alarm
    engine_a.on_batch(_violations(device, NOW_MS + 2_000, NOW_MS + 3_000))

    assert racing.race is None, "process B ran in the middle of process A's evaluation"
    assert (engine_a.conflicts, engine_a.errors, engine_b.errors) == (1, 0, 0)
    [alarm] = services.alarms.list_alarms(principal(Role.VIEWER, tenant.tenant_id))
    assert (alarm.active, alarm.severity, alarm.raised_ms) == (True, "major", NOW_MS + 3_000)


def test_a_state_cached_in_memory_is_not_written_over_a_newer_one(shared_database: str) -> None:
    """Process A keeps the state it wrote last in memory; B writes after it; A's next write is refused and A
    evaluates again on B's state, so the violations of both processes count."""
    clock = FakeClock()
    process_a, process_b = _process(shared_database), _process(shared_database)
    services = build_services(
        process_a, MemoryTelemetryStore(), clock, JWT_SECRET, 900, passwords=cheap_passwords()
    )
    tenant = populate_tenant(services, "acme")
    services.alarms.create_rule(
        principal(Role.TENANT_ADMIN, tenant.tenant_id), tenant.profile_id, FOUR_IN_TEN_MINUTES
    )
    device = tenant.device_id
    engine_a = AlarmEngine(process_a, DeviceDirectory(process_a), clock)
    engine_b = AlarmEngine(process_b, DeviceDirectory(process_b), clock)
    engine_a.on_batch(_violations(device, NOW_MS))  # A: one, cached in A's memory
    engine_b.on_batch(_violations(device, NOW_MS + 1_000, NOW_MS + 2_000))  # B: three, on A's stored one
    assert services.alarms.list_alarms(principal(Role.VIEWER, tenant.tenant_id)) == []
    engine_a.on_batch(_violations(device, NOW_MS + 3_000))  # A's cache says one; the row says three

    assert (engine_a.conflicts, engine_a.errors, engine_b.errors) == (1, 0, 0)
    [alarm] = services.alarms.list_alarms(principal(Role.VIEWER, tenant.tenant_id))
    assert (alarm.active, alarm.raised_ms) == (True, NOW_MS + 3_000)
