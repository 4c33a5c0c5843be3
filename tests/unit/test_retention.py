"""Retention deletes raw telemetry past each tenant's own retention period, and connectivity events past
the platform's connectivity retention, and nothing else."""

from __future__ import annotations

from tests.unit.management_fixtures import PLATFORM_ADMIN, build_harness, populate_tenant

from openiiot.domain.connectivity import ConnectivityEvent, ConnectivityEventKind
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.retention import DAY_MS, apply_connectivity_retention, apply_retention


def test_each_tenant_keeps_exactly_its_retention_period() -> None:
    h = build_harness()
    short = populate_tenant(h.services, "short")
    long = populate_tenant(h.services, "long")
    h.services.tenants.update(PLATFORM_ADMIN, short.tenant_id, {"retention_days": 7})
    h.services.tenants.update(PLATFORM_ADMIN, long.tenant_id, {"retention_days": 30})
    now = h.clock.now
    batch = TelemetryBatch()
    for device in (short.device_id, long.device_id):
        for age_days in (1, 10, 40):
            batch.add(device, "pressure_bar", now - age_days * DAY_MS, 7.0)
    h.telemetry.append(batch)

    deleted = apply_retention(h.uow, h.telemetry, h.clock)

    def ages(device_id: str) -> list[int]:
        page = h.telemetry.raw(device_id, None, now - 100 * DAY_MS, now + 1, limit=100)
        return sorted((now - p.ts_ms) // DAY_MS for p in page.points)

    assert deleted == 3  # 10- and 40-day points of the 7-day tenant, the 40-day point of the 30-day one
    assert ages(short.device_id) == [1]
    assert ages(long.device_id) == [1, 10]


def test_connectivity_events_older_than_the_retention_days_are_deleted() -> None:
    h = build_harness()
    tenant = populate_tenant(h.services, "acme")
    now = h.clock.now
    ages = (1, 89, 91, 400)
    with h.uow() as uow:
        uow.connectivity.add_events(
            [
                ConnectivityEvent(
                    f"e-{age}",
                    tenant.tenant_id,
                    tenant.device_id,
                    now - age * DAY_MS,
                    ConnectivityEventKind.ACTIVE,
                )
                for age in ages
            ]
        )
        uow.commit()

    assert apply_connectivity_retention(h.uow, h.clock, 90) == 2
    with h.uow() as uow:
        kept = [e.id for e in uow.connectivity.list_events(tenant.device_id)]
    assert kept == ["e-1", "e-89"]
