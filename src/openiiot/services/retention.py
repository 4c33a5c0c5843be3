"""Retention: raw telemetry older than each tenant's retention period is deleted (rollups stay), and
connectivity events older than the platform's connectivity retention."""

from __future__ import annotations

import logging

from openiiot.services.ports import Clock, TelemetryStore, UnitOfWorkFactory

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def apply_retention(uow: UnitOfWorkFactory, store: TelemetryStore, clock: Clock) -> int:
    """Delete raw points past every tenant's `retention_days`; return the number of points deleted."""
    now_ms = clock.now_ms()
    deleted = 0
    offset = 0
    while True:
        with uow() as tx:
            tenants = tx.tenants.list(offset=offset, limit=100)
            batches = [(t, tx.devices.ids_of_tenant(t.id)) for t in tenants]
        for tenant, device_ids in batches:
            if device_ids:
                removed = store.delete_before(device_ids, now_ms - tenant.retention_days * DAY_MS)
                deleted += removed
                if removed:
                    log.info("retention applied", extra={"tenant_id": tenant.id, "points": removed})
        if len(tenants) < 100:
            return deleted
        offset += 100


def apply_connectivity_retention(uow: UnitOfWorkFactory, clock: Clock, days: int) -> int:
    """Delete connectivity events older than `days`; return how many were deleted."""
    with uow() as tx:
        deleted = tx.connectivity.delete_events_before(clock.now_ms() - days * DAY_MS)
        tx.commit()
    if deleted:
        log.info("connectivity retention applied", extra={"events": deleted, "days": days})
    return deleted
