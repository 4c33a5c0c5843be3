"""The alarm engine over memory fakes: batches raise, escalate and clear alarms; ticks advance durations."""

from __future__ import annotations

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

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_engine import TICK_LATENESS_MS, AlarmEngine
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ports import AlarmRuleRecord

PRESSURE_RULE: dict[str, Any] = {
    "id": "ignored",
    "name": "Discharge pressure",
    "alarm_type": "High pressure",
    "levels": [
        {
            "severity": "major",
            "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8},
        },
        {
            "severity": "critical",
            "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 9},
        },
    ],
}


@pytest.fixture
def world() -> tuple[Harness, TenantWorld, AlarmEngine]:
    harness = build_harness()
    tenant = populate_tenant(harness.services, "acme")
    engine = AlarmEngine(harness.uow, DeviceDirectory(harness.uow), harness.clock, rule_cache_ttl_s=0)
    return harness, tenant, engine


def _add_rule(harness: Harness, tenant: TenantWorld, rule: dict[str, Any]) -> AlarmRuleRecord:
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    return harness.services.alarms.create_rule(admin, tenant.profile_id, rule)


def _batch(device_id: str, *points: tuple[int, float]) -> TelemetryBatch:
    batch = TelemetryBatch()
    for ts_ms, value in points:
        batch.add(device_id, "pressure_bar", ts_ms, value, None)
    return batch


def _alarms(harness: Harness, tenant: TenantWorld) -> list[Any]:
    reader = principal(Role.VIEWER, tenant.tenant_id)
    return sorted(harness.services.alarms.list_alarms(reader), key=lambda a: a.raised_ms)


def test_a_violation_raises_escalates_and_clears_and_a_new_one_opens_a_new_alarm(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    _add_rule(harness, tenant, PRESSURE_RULE)
    device = tenant.device_id
    engine.on_batch(_batch(device, (NOW_MS, 7.0), (NOW_MS + 1000, 8.5)))
    [alarm] = _alarms(harness, tenant)
    assert (alarm.severity, alarm.active, alarm.raised_ms) == ("major", True, NOW_MS + 1000)
    engine.on_batch(_batch(device, (NOW_MS + 2000, 9.5)))
    [alarm] = _alarms(harness, tenant)
    assert alarm.severity == "critical"
    engine.on_batch(_batch(device, (NOW_MS + 3000, 5.0)))
    [alarm] = _alarms(harness, tenant)
    assert not alarm.active and alarm.cleared_ms == NOW_MS + 3000
    engine.on_batch(_batch(device, (NOW_MS + 4000, 8.7)))
    first, second = _alarms(harness, tenant)
    assert first.id == alarm.id and not first.active
    assert second.id != alarm.id and second.active and second.severity == "major"
    assert engine.errors == 0


def test_a_duration_completes_on_a_tick_without_new_samples(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    held = {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8}
    rule = {
        **PRESSURE_RULE,
        "levels": [
            {"severity": "minor", "condition": {"type": "duration", "condition": held, "duration_s": 60}}
        ],
    }
    _add_rule(harness, tenant, rule)
    engine.on_batch(_batch(tenant.device_id, (NOW_MS, 9.0)))
    assert _alarms(harness, tenant) == []
    harness.clock.now = NOW_MS + 30_000 + TICK_LATENESS_MS
    assert engine.tick_all() == 1
    assert _alarms(harness, tenant) == []
    harness.clock.now = NOW_MS + 61_000 + TICK_LATENESS_MS  # ticks run this far behind the clock
    engine.tick_all()
    [alarm] = _alarms(harness, tenant)
    assert alarm.raised_ms == NOW_MS + 60_000  # stamped when the duration completed, not when the tick ran


def test_alarms_of_a_device_whose_asset_is_in_maintenance_are_suppressed(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    _add_rule(harness, tenant, PRESSURE_RULE)
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    harness.services.assets.update(admin, tenant.asset_id, {"maintenance_mode": True})
    engine.on_batch(_batch(tenant.device_id, (NOW_MS, 9.5)))
    [alarm] = _alarms(harness, tenant)
    assert alarm.suppressed and alarm.active


def test_a_manual_clear_while_the_condition_persists_raises_a_new_alarm(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    _add_rule(harness, tenant, PRESSURE_RULE)
    engine.on_batch(_batch(tenant.device_id, (NOW_MS, 8.5)))
    [alarm] = _alarms(harness, tenant)
    operator = principal(Role.OPERATOR, tenant.tenant_id, "olga")
    cleared = harness.services.alarms.clear(operator, alarm.id, "sensor replaced")
    assert not cleared.active and cleared.history[-1].by == "olga"
    engine.on_batch(_batch(tenant.device_id, (NOW_MS + 1000, 8.6)))
    assert [a.active for a in _alarms(harness, tenant)] == [False, True]


def test_a_broken_stored_rule_is_counted_and_never_raised_into_ingest(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    with harness.uow() as uow:
        uow.alarms.add_rule(AlarmRuleRecord("bad", tenant.tenant_id, tenant.profile_id, {"levels": "nope"}))
        uow.commit()
    engine.on_batch(_batch(tenant.device_id, (NOW_MS, 9.5)))
    assert engine.errors == 1
    assert _alarms(harness, tenant) == []


def test_rules_are_cached_until_invalidated(world: tuple[Harness, TenantWorld, AlarmEngine]) -> None:
    harness, tenant, _ = world
    engine = AlarmEngine(harness.uow, DeviceDirectory(harness.uow), harness.clock, rule_cache_ttl_s=3600)
    engine.on_batch(_batch(tenant.device_id, (NOW_MS, 9.5)))  # caches "no rules" for the profile
    _add_rule(harness, tenant, PRESSURE_RULE)
    engine.on_batch(_batch(tenant.device_id, (NOW_MS + 1000, 9.5)))
    assert _alarms(harness, tenant) == []
    engine.invalidate_rules(tenant.profile_id)
    engine.on_batch(_batch(tenant.device_id, (NOW_MS + 2000, 9.5)))
    assert len(_alarms(harness, tenant)) == 1


def test_a_rule_on_an_asset_applies_to_every_device_below_it_and_only_there(
    world: tuple[Harness, TenantWorld, AlarmEngine],
) -> None:
    harness, tenant, engine = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    services = harness.services
    # the station asset has a child asset (a dryer skid) with a device of another profile on it
    skid = services.assets.create(
        admin, site_id=tenant.site_id, values={"name": "dryer skid", "parent_id": tenant.asset_id}
    )
    other_profile = services.profiles.create(admin, {"name": "dryer"})
    on_skid = services.devices.create(
        admin, {"name": "dryer-1", "profile_id": other_profile.id, "asset_id": skid.id}
    ).device.id
    elsewhere_asset = services.assets.create(admin, site_id=tenant.site_id, values={"name": "boiler house"})
    elsewhere = services.devices.create(
        admin, {"name": "boiler-1", "profile_id": other_profile.id, "asset_id": elsewhere_asset.id}
    ).device.id
    record = services.alarms.create_rule(admin, None, PRESSURE_RULE, asset_id=tenant.asset_id)
    assert (record.profile_id, record.asset_id) == (None, tenant.asset_id)
    silent = {
        "name": "Skid silent",
        "alarm_type": "No data",
        "levels": [
            {"severity": "minor", "condition": {"type": "no_data", "key": "pressure_bar", "timeout_s": 60}}
        ],
    }
    services.alarms.create_rule(admin, None, silent, asset_id=skid.id)

    for device in (tenant.device_id, on_skid, elsewhere):
        engine.on_batch(_batch(device, (NOW_MS, 8.5)))
    raised = {a.originator_id for a in _alarms(harness, tenant)}
    assert raised == {tenant.device_id, on_skid}  # the station's device and the skid's, not the boiler's
    # the tick finds the asset's devices too: the skid's no-data rule fires for its silent device only
    harness.clock.now = NOW_MS + 61_000 + TICK_LATENESS_MS
    engine.tick_all()
    silent_alarms = [a for a in _alarms(harness, tenant) if a.alarm_type == "No data"]
    assert [a.originator_id for a in silent_alarms] == [on_skid]


def test_a_rule_names_a_profile_or_an_asset(world: tuple[Harness, TenantWorld, AlarmEngine]) -> None:
    harness, tenant, _ = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    with pytest.raises(ValidationFailed, match="one of the two"):
        harness.services.alarms.create_rule(admin, tenant.profile_id, PRESSURE_RULE, asset_id=tenant.asset_id)
    with pytest.raises(ValidationFailed, match="one of the two"):
        harness.services.alarms.create_rule(admin, None, PRESSURE_RULE)
    with pytest.raises(NotFound):
        harness.services.alarms.create_rule(admin, None, PRESSURE_RULE, asset_id="no-such-asset")
