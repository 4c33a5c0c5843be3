"""Rolling windows of alarm rules in the database (decision 0015), on SQLite and PostgreSQL.

A restart half-way through a deviation window keeps the baseline; two engines sharing a device build one
window together; the stored window chunks stay bounded while the window slides.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from tests.integration.stack_fixtures import Stack
from tests.unit.management_fixtures import (
    JWT_SECRET,
    NOW_MS,
    FakeClock,
    TenantWorld,
    cheap_passwords,
    populate_tenant,
    principal,
)

from openiiot.domain.alarms import RuleState, evaluate, parse_rule
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_engine import AlarmEngine
from openiiot.services.alarm_state_store import TRIM_SLACK, load_states
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.management import Services, build_services
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.sql.alarm_repositories import AlarmWindowChunkRow
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration

DRIFT: dict[str, Any] = {
    "id": "x",
    "name": "Discharge temperature drift",
    "alarm_type": "Drift",
    "levels": [
        {
            "severity": "warning",
            "condition": {
                "type": "deviation",
                "key": "temp_c",
                "window_s": 600,
                "min_samples": 30,
                "sigma": 4,
            },
        }
    ],
}


@pytest.fixture
def database(stack: Stack) -> Iterator[str]:
    """One metadata database of the stack under test, for engines that each have their own pool."""
    url = stack.metadata_url()
    engine = create_metadata_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    yield url
    while _engines:
        _engines.pop().dispose()


_engines: list[Engine] = []


def _process(url: str) -> SqlUnitOfWorkFactory:
    engine = create_metadata_engine(url)
    _engines.append(engine)
    return SqlUnitOfWorkFactory(engine)


def _world(url: str) -> tuple[Services, TenantWorld, FakeClock]:
    clock = FakeClock()
    services = build_services(
        _process(url), MemoryTelemetryStore(), clock, JWT_SECRET, 900, passwords=cheap_passwords()
    )
    tenant = populate_tenant(services, "acme")
    services.alarms.create_rule(principal(Role.TENANT_ADMIN, tenant.tenant_id), tenant.profile_id, DRIFT)
    return services, tenant, clock


def _engine(url: str, clock: FakeClock) -> AlarmEngine:
    uow = _process(url)
    return AlarmEngine(uow, DeviceDirectory(uow), clock)


def _normal(device_id: str, second: int) -> TelemetryBatch:
    """Ten samples in one second, around 80 degC (within +-1)."""
    batch = TelemetryBatch()
    for j in range(10):
        batch.add(
            device_id, "temp_c", NOW_MS + second * 1_000 + j * 100, 80.0 + ((second * 10 + j) % 5 - 2) / 2
        )
    return batch


def _spike(device_id: str, second: int) -> TelemetryBatch:
    batch = TelemetryBatch()
    batch.add(device_id, "temp_c", NOW_MS + second * 1_000, 86.0)
    return batch


def _alarms(services: Services, tenant: TenantWorld) -> list[Any]:
    return services.alarms.list_alarms(principal(Role.VIEWER, tenant.tenant_id))


def _stored(url: str, device_id: str, services: Services, tenant: TenantWorld) -> RuleState:
    [rule] = services.alarms.list_rules(principal(Role.VIEWER, tenant.tenant_id))
    with _process(url)() as uow:
        return load_states(uow.alarms, [(rule.id, device_id)])[(rule.id, device_id)].state


def test_a_restart_half_way_through_the_window_keeps_the_baseline(database: str) -> None:
    services, tenant, clock = _world(database)
    device = tenant.device_id
    before = _engine(database, clock)
    for second in range(40):  # 400 samples of the 600 s baseline, then the process stops
        before.on_batch(_normal(device, second))
    assert before.errors == 0

    after = _engine(database, clock)  # a new process: the baseline comes from the database
    after.on_batch(_spike(device, 40))

    [alarm] = _alarms(services, tenant)
    assert (alarm.active, alarm.severity, alarm.raised_ms) == (True, "warning", NOW_MS + 40_000)
    [rule] = services.alarms.list_rules(principal(Role.VIEWER, tenant.tenant_id))
    uninterrupted, _ = evaluate(
        parse_rule({**DRIFT, "id": rule.id}),
        RuleState(),
        [s for second in range(40) for s in _samples(_normal(device, second))] + _samples(_spike(device, 40)),
        NOW_MS + 40_000,
    )
    assert _stored(database, device, services, tenant).to_dict() == uninterrupted.to_dict()


def _samples(batch: TelemetryBatch) -> list[tuple[int, str, float | str | bool | None]]:
    return [(batch.ts_ms[i], batch.key[i], batch.value[i]) for i in range(len(batch.ts_ms))]


def test_two_engines_sharing_a_device_build_one_window(database: str) -> None:
    """Batches of one device alternate between two processes, each with its cached state: every batch
    lands in the stored window once, in order, as if one process had evaluated them all."""
    services, tenant, clock = _world(database)
    device = tenant.device_id
    a, b = _engine(database, clock), _engine(database, clock)
    batches = [_normal(device, second) for second in range(30)]
    for i, batch in enumerate(batches):
        (a if i % 3 else b).on_batch(batch)  # A twice, then B once: each finds the other's writes
    assert (a.errors, b.errors) == (0, 0)
    assert a.conflicts + b.conflicts > 0

    [rule] = services.alarms.list_rules(principal(Role.VIEWER, tenant.tenant_id))
    single, _ = evaluate(
        parse_rule({**DRIFT, "id": rule.id}),
        RuleState(),
        [s for batch in batches for s in _samples(batch)],
        NOW_MS + 29_900,
    )
    stored = _stored(database, device, services, tenant)
    assert stored.to_dict() == single.to_dict()
    [window] = stored.windows.values()
    assert len(window) == 300


def test_the_stored_window_stays_bounded_while_it_slides(database: str) -> None:
    services, tenant, clock = _world(database)
    device = tenant.device_id
    engine = _engine(database, clock)
    for second in range(0, 900, 3):  # 15 minutes, one batch of 10 samples every 3 s: the window slides
        engine.on_batch(_normal(device, second))
    assert engine.errors == 0
    window_chunks = 600 // 3  # one chunk per batch within the 600 s window
    probe = create_metadata_engine(database)
    _engines.append(probe)
    with probe.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(AlarmWindowChunkRow)).scalar_one()
    assert window_chunks <= stored <= window_chunks + TRIM_SLACK
    [window] = _stored(database, device, services, tenant).windows.values()
    assert len(window) == 2_000 and window[0][0] > NOW_MS + 297_000
