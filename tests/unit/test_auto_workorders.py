"""An alarm rule with `work_order` opens a work order for each new alarm it raises — once per alarm."""

from __future__ import annotations

from typing import Any

from tests.unit.management_fixtures import NOW_MS, build_harness, populate_tenant, principal
from tests.unit.test_alarm_engine import PRESSURE_RULE

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_engine import AlarmEngine
from openiiot.services.device_directory import DeviceDirectory


def _batch(device_id: str, ts_ms: int, value: float) -> TelemetryBatch:
    batch = TelemetryBatch()
    batch.add(device_id, "pressure_bar", ts_ms, value, None)
    return batch


def test_a_rule_that_asks_for_it_opens_one_work_order_per_alarm() -> None:
    harness = build_harness()
    tenant = populate_tenant(harness.services, "acme")
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    rule: dict[str, Any] = {**PRESSURE_RULE, "work_order": {"priority": "high", "verify_after_s": 300}}
    harness.services.alarms.create_rule(admin, tenant.profile_id, rule)
    engine = AlarmEngine(
        harness.uow,
        DeviceDirectory(harness.uow),
        harness.clock,
        rule_cache_ttl_s=0,
        on_events=harness.services.workorders.open_for_alarms,
    )
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 8.5))  # raised: one work order
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 1000, 9.5))  # escalated: no second one
    viewer = principal(Role.VIEWER, tenant.tenant_id)
    [order] = harness.services.workorders.list(viewer)
    [alarm] = harness.services.alarms.list_alarms(viewer)
    assert (order.alarm_id, order.device_id, order.asset_id) == (alarm.id, tenant.device_id, tenant.asset_id)
    assert (order.priority.value, order.verify_after_s, order.created_by) == ("high", 300, "platform")
    assert order.title == "High pressure on acme-ac-1"
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 2000, 5.0))  # cleared
    engine.on_batch(_batch(tenant.device_id, NOW_MS + 3000, 8.6))  # a new alarm: a new work order
    assert len(harness.services.workorders.list(viewer)) == 2


def test_a_rule_without_it_opens_none_and_a_bad_priority_is_refused() -> None:
    harness = build_harness()
    tenant = populate_tenant(harness.services, "acme")
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    harness.services.alarms.create_rule(admin, tenant.profile_id, PRESSURE_RULE)
    engine = AlarmEngine(
        harness.uow,
        DeviceDirectory(harness.uow),
        harness.clock,
        on_events=harness.services.workorders.open_for_alarms,
    )
    engine.on_batch(_batch(tenant.device_id, NOW_MS, 8.5))
    assert harness.services.workorders.list(principal(Role.VIEWER, tenant.tenant_id)) == []
    try:
        harness.services.alarms.create_rule(
            admin, tenant.profile_id, {**PRESSURE_RULE, "work_order": {"priority": "asap"}}
        )
    except ValidationFailed as exc:
        assert exc.field == "rule.work_order.priority" or exc.field == "work_order.priority"
    else:
        raise AssertionError("an unknown priority was accepted")
