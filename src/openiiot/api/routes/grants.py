"""Sharing grants (the industry chain): the customer grants, lists and revokes; the partner works through
`/shared/...`, which sees exactly what was granted and nothing else (docs/sharing.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from openiiot.api.deps import PrincipalDep, ServicesDep, split_csv
from openiiot.api.schemas.common import PROBLEM_RESPONSES, InputModel
from openiiot.domain.alarms import alarm_to_dict
from openiiot.domain.commands import command_to_dict
from openiiot.domain.errors import NotFound
from openiiot.domain.grants import Grant, Permission
from openiiot.domain.workorders import workorder_to_dict

router = APIRouter(tags=["sharing"], responses=PROBLEM_RESPONSES)


class GrantCreate(InputModel):
    """Access for a partner tenant to some of the caller's devices, until `expires_ms`."""

    grantee_tenant_id: str = Field(min_length=1, max_length=64)
    device_ids: list[str] = Field(min_length=1, max_length=10_000)
    telemetry_keys: list[str] = Field(default_factory=lambda: ["*"], max_length=1000)
    permissions: list[Permission] = Field(default_factory=lambda: [Permission.TELEMETRY])
    expires_ms: int = Field(description="UTC ms; at most 3 years ahead")
    note: str = Field("", max_length=500)


class GrantPublic(BaseModel):
    """A grant."""

    id: str
    grantor_tenant_id: str
    grantee_tenant_id: str
    device_ids: list[str]
    telemetry_keys: list[str]
    permissions: list[Permission]
    created_by: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None
    revoked_by: str | None
    note: str


def _public(grant: Grant) -> GrantPublic:
    return GrantPublic.model_validate(grant, from_attributes=True)


@router.post("/grants", response_model=GrantPublic, status_code=status.HTTP_201_CREATED)
def create_grant(body: GrantCreate, principal: PrincipalDep, services: ServicesDep) -> GrantPublic:
    """Grant a partner tenant access (tenant admins of the devices' tenant)."""
    return _public(services.grants.create(principal, body.model_dump()))


@router.get("/grants", response_model=list[GrantPublic])
def grants_given(principal: PrincipalDep, services: ServicesDep) -> list[GrantPublic]:
    """Grants the caller's tenant gave, newest first (revoked and expired ones included)."""
    return [_public(g) for g in services.grants.given(principal)]


@router.post("/grants/{grant_id}/revoke", response_model=GrantPublic)
def revoke_grant(grant_id: str, principal: PrincipalDep, services: ServicesDep) -> GrantPublic:
    """End a grant at once."""
    return _public(services.grants.revoke(principal, grant_id))


# --- the partner's side ------------------------------------------------------------------------------


@router.get("/shared/grants", response_model=list[GrantPublic])
def grants_received(principal: PrincipalDep, services: ServicesDep) -> list[GrantPublic]:
    """Active grants the caller's tenant received."""
    return [_public(g) for g in services.grants.received(principal)]


@router.get("/shared/devices")
def shared_devices(principal: PrincipalDep, services: ServicesDep) -> list[dict[str, Any]]:
    """Every device shared with the caller's tenant, with what the grant allows."""
    out = []
    for grant in services.grants.received(principal):
        for device_id in grant.device_ids:
            _grant, acting = services.grants.authorize(principal, device_id, None, access="device.read")
            try:
                device = services.devices.get(acting, device_id)
            except NotFound:
                continue  # deleted since the grant was made
            out.append(
                {
                    "id": device.id,
                    "name": device.name,
                    "label": device.label,
                    "owner_tenant_id": grant.grantor_tenant_id,
                    "grant_id": grant.id,
                    "permissions": [p.value for p in grant.permissions],
                    "telemetry_keys": list(grant.telemetry_keys),
                    "expires_ms": grant.expires_ms,
                }
            )
    return out


@router.get("/shared/devices/{device_id}/telemetry/latest")
def shared_latest(
    device_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    keys: Annotated[str | None, Query(description="comma-separated; default every granted key")] = None,
) -> dict[str, Any]:
    """Latest values of the granted keys."""
    wanted = split_csv(keys) or []
    grant, acting = services.grants.authorize(
        principal, device_id, Permission.TELEMETRY, access="telemetry.latest", keys=wanted
    )
    found = services.telemetry.latest(acting, device_id, wanted or None)
    values = {
        k: {"ts": v.ts_ms, "value": v.value if v.value is not None else v.text}
        for k, v in found.items()
        if grant.key_allowed(k)
    }
    return {"device_id": device_id, "values": values}


@router.get("/shared/devices/{device_id}/telemetry")
def shared_history(
    device_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    keys: Annotated[str, Query(description="comma-separated granted keys")],
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Raw history of granted keys, oldest first (one page)."""
    wanted = split_csv(keys) or []
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.TELEMETRY, access="telemetry.history", keys=wanted
    )
    page = services.telemetry.raw(acting, device_id, keys=wanted, start=start, end=end, limit=limit)
    points = [
        {"key": p.key, "ts": p.ts_ms, "value": p.value if p.value is not None else p.text}
        for p in page.points
    ]
    return {"device_id": device_id, "points": points, "next_cursor": page.next_cursor}


@router.get("/shared/devices/{device_id}/alarms")
def shared_alarms(device_id: str, principal: PrincipalDep, services: ServicesDep) -> list[dict[str, Any]]:
    """The device's alarms, newest first."""
    _grant, acting = services.grants.authorize(principal, device_id, Permission.ALARMS, access="alarms.read")
    return [alarm_to_dict(a) for a in services.alarms.list_alarms(acting, device_id=device_id)]


@router.post("/shared/devices/{device_id}/alarms/{alarm_id}/acknowledge")
def shared_acknowledge(
    device_id: str, alarm_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Acknowledge one of the device's alarms."""
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.ALARMS, access="alarms.acknowledge"
    )
    if services.alarms.get_alarm(acting, alarm_id).originator_id != device_id:
        raise NotFound("alarm", alarm_id)
    return alarm_to_dict(services.alarms.acknowledge(acting, alarm_id))


class SharedCommand(InputModel):
    """A command to a shared device."""

    method: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    expires_in_s: int = Field(3600, ge=1, le=7 * 86400)


@router.post("/shared/devices/{device_id}/commands", status_code=status.HTTP_201_CREATED)
def shared_command(
    device_id: str, body: SharedCommand, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Send a command the device's profile declares (dangerous ones wait for the customer's confirmation)."""
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.COMMANDS, access="commands.request"
    )
    command, _created = services.commands.request(
        acting, device_id, body.method, body.params,
        idempotency_key=body.idempotency_key, expires_in_s=body.expires_in_s,
    )  # fmt: skip
    return command_to_dict(command)


@router.get("/shared/devices/{device_id}/work-orders")
def shared_work_orders(
    device_id: str, principal: PrincipalDep, services: ServicesDep
) -> list[dict[str, Any]]:
    """The device's work orders, newest first."""
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.WORK_ORDERS, access="work_orders.read"
    )
    return [workorder_to_dict(o) for o in services.workorders.list(acting, device_id=device_id)]


class SharedWorkOrder(InputModel):
    """A work order on a shared device."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    priority: str = "medium"
    alarm_id: str | None = None


@router.post("/shared/devices/{device_id}/work-orders", status_code=status.HTTP_201_CREATED)
def shared_open_work_order(
    device_id: str, body: SharedWorkOrder, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Open a work order on the device (or on one of its alarms)."""
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.WORK_ORDERS, access="work_orders.open"
    )
    if (
        body.alarm_id is not None
        and services.alarms.get_alarm(acting, body.alarm_id).originator_id != device_id
    ):
        raise NotFound("alarm", body.alarm_id)  # an alarm of another device is not shared by this grant
    values = {**body.model_dump(), "device_id": device_id}
    return workorder_to_dict(services.workorders.create(acting, values))


class SharedComment(InputModel):
    """A comment on a shared device's work order."""

    text: str = Field(min_length=1, max_length=10_000)


@router.post("/shared/devices/{device_id}/work-orders/{order_id}/comments")
def shared_comment(
    device_id: str, order_id: str, body: SharedComment, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Comment on one of the device's work orders."""
    _grant, acting = services.grants.authorize(
        principal, device_id, Permission.WORK_ORDERS, access="work_orders.comment"
    )
    if services.workorders.get(acting, order_id).device_id != device_id:
        raise NotFound("work order", order_id)
    return workorder_to_dict(services.workorders.comment(acting, order_id, body.text))
