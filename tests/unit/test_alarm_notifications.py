"""Which alarm changes reach notifications: the engine's transitions and the operators' actions, with the
site and device name a message needs — and nothing for shelved or suppressed alarms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from tests.unit.management_fixtures import (
    NOW_MS,
    Harness,
    TenantWorld,
    build_harness,
    populate_tenant,
    principal,
)
from tests.unit.test_alarm_engine import PRESSURE_RULE

from openiiot.domain.model import Role
from openiiot.domain.notifications import AlarmEvent
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_engine import AlarmEngine
from openiiot.services.alarms import AlarmService
from openiiot.services.device_directory import DeviceDirectory


class Sink:
    def __init__(self) -> None:
        self.events: list[AlarmEvent] = []

    def __call__(self, events: Sequence[AlarmEvent]) -> None:
        self.events.extend(events)

    def seen(self) -> list[tuple[str, str]]:
        return [(e.transition.value, e.severity.value) for e in self.events]


@pytest.fixture
def world() -> tuple[Harness, TenantWorld, AlarmEngine, AlarmService, Sink]:
    harness = build_harness()
    tenant = populate_tenant(harness.services, "acme")
    sink = Sink()
    engine = AlarmEngine(
        harness.uow, DeviceDirectory(harness.uow), harness.clock, rule_cache_ttl_s=0, on_events=sink
    )
    alarms = AlarmService(harness.uow, harness.clock, on_events=sink)
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    harness.services.alarms.create_rule(admin, tenant.profile_id, PRESSURE_RULE)
    return harness, tenant, engine, alarms, sink


def _batch(device_id: str, ts_ms: int, value: float) -> TelemetryBatch:
    batch = TelemetryBatch()
    batch.add(device_id, "pressure_bar", ts_ms, value, None)
    return batch


def test_raise_escalate_acknowledge_deescalate_and_clear_are_each_told_once(world: Any) -> None:
    _harness, tenant, engine, alarms, sink = world
    operator = principal(Role.OPERATOR, tenant.tenant_id, "li.wei")
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 8.5))
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 1_000, 8.6))  # no change: no event
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 2_000, 9.5))
    [alarm] = alarms.list_alarms(operator)
    alarms.acknowledge(operator, alarm.id, "on my way")
    alarms.comment(operator, alarm.id, "valve V3")  # history, but nothing to notify
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 3_000, 8.4))
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 4_000, 5.0))
    assert sink.seen() == [
        ("raised", "major"),
        ("escalated", "critical"),
        ("acknowledged", "critical"),
        ("deescalated", "major"),
        ("cleared", "major"),
    ]
    first, ack = sink.events[0], sink.events[2]
    assert (first.site_id, first.originator_name, first.alarm_type) == (
        tenant.site_id,
        "acme-ac-1",
        "High pressure",
    )
    assert (ack.details["by"], ack.details["comment"]) == ("li.wei", "on my way")


def test_a_shelved_alarm_tells_nobody_until_the_shelving_expires(world: Any) -> None:
    harness, tenant, engine, alarms, sink = world
    operator = principal(Role.OPERATOR, tenant.tenant_id)
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 8.5))
    [alarm] = alarms.list_alarms(operator)
    alarms.shelve(operator, alarm.id, NOW_MS + 60_000)
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 1_000, 9.5))  # escalates while shelved
    assert sink.seen() == [("raised", "major")]

    harness.clock.now = NOW_MS + 30_000
    assert alarms.expire_shelving_due() == 0
    harness.clock.now = NOW_MS + 61_000
    assert alarms.expire_shelving_due() == 1
    [stored] = harness.services.alarms.list_alarms(operator)
    assert stored.shelved_until_ms is None and stored.history[-1].action == "shelve-expired"
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 62_000, 5.0))
    assert sink.seen() == [("raised", "major"), ("cleared", "critical")]


def test_alarms_suppressed_by_maintenance_tell_nobody(world: Any) -> None:
    harness, tenant, engine, _alarms, sink = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    harness.services.assets.update(admin, tenant.asset_id, {"maintenance_mode": True})
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 9.5))
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 1_000, 5.0))
    assert sink.events == []


def test_deleting_a_rule_clears_its_open_alarms(world: Any) -> None:
    harness, tenant, engine, alarms, _sink = world
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 9.5))
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    [rule] = harness.services.alarms.list_rules(admin)
    harness.services.alarms.delete_rule(admin, rule.id)
    [alarm] = alarms.list_alarms(admin)
    assert not alarm.active and alarm.history[-1].comment == "the alarm rule was deleted"
