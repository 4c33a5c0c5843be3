"""Connectivity status of devices: now, over time, and counted by status (docs/connectivity.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.domain.connectivity import Status

router = APIRouter(tags=["connectivity"], responses=PROBLEM_RESPONSES)


class ConnectivityPublic(BaseModel):
    """A device's connectivity now."""

    device_id: str
    status: Status
    connected: bool | None
    active: bool
    via_gateway: str | None
    last_activity_ms: int | None
    last_connected_ms: int | None
    last_disconnected_ms: int | None
    inactive_at_ms: int | None


class ConnectivityEventPublic(BaseModel):
    """One transition: connected, disconnected, active or inactive."""

    ts_ms: int
    kind: str
    reason: str


@router.get("/devices/{device_id}/connectivity", response_model=ConnectivityPublic)
def device_connectivity(device_id: str, principal: PrincipalDep, services: ServicesDep) -> ConnectivityPublic:
    """Whether the device has an MQTT session and whether it sent anything within its inactivity timeout."""
    return ConnectivityPublic.model_validate(services.connectivity.get(principal, device_id))


@router.get("/devices/{device_id}/connectivity/events", response_model=Page[ConnectivityEventPublic])
def device_connectivity_events(
    device_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    from_ms: Annotated[int | None, Query(description="At or after (UTC ms)")] = None,
    to_ms: Annotated[int | None, Query(description="Before (UTC ms)")] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[ConnectivityEventPublic]:
    """The device's transitions, newest first."""
    found = services.connectivity.events(
        principal, device_id, from_ms=from_ms, to_ms=to_ms, offset=offset, limit=limit
    )
    items = [ConnectivityEventPublic(ts_ms=e.ts_ms, kind=e.kind.value, reason=e.reason) for e in found]
    return Page(items=items, offset=offset, limit=limit)


@router.get("/connectivity/summary")
def connectivity_summary(
    principal: PrincipalDep,
    services: ServicesDep,
    group_by: Annotated[str | None, Query(description="site or tenant")] = None,
) -> dict[str, Any]:
    """How many of the caller's devices are active, connected but inactive, disconnected, never seen."""
    return services.connectivity.summary(principal, group_by)


@router.get("/connectivity/devices", response_model=Page[str])
def devices_with_status(
    principal: PrincipalDep,
    services: ServicesDep,
    status: Status,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[str]:
    """Ids of the caller's devices with this status (e.g. `connected-inactive`: hung but still connected)."""
    ids = services.connectivity.device_ids_with_status(principal, status, offset=offset, limit=limit)
    return Page(items=ids, offset=offset, limit=limit)
