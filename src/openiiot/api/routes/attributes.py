"""Device attributes by scope: client (read-only here), shared (pushed to the device), server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status
from pydantic import BaseModel, JsonValue

from openiiot.api.deps import PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES
from openiiot.api.schemas.devices import AttributePublic, AttributesPublic
from openiiot.services.attributes import parse_scope

router = APIRouter(prefix="/devices/{device_id}/attributes", tags=["attributes"], responses=PROBLEM_RESPONSES)


def _public(device_id: str, scope: str, attributes: list[AttributePublic]) -> AttributesPublic:
    return AttributesPublic(device_id=device_id, scope=parse_scope(scope), attributes=attributes)


class DriftPublic(BaseModel):
    """One configured (shared) attribute beside what the device reported applying."""

    key: str
    desired: JsonValue
    desired_ms: int
    reported: JsonValue
    reported_ms: int | None
    in_sync: bool


@router.get("/drift", response_model=list[DriftPublic])
def configuration_drift(device_id: str, principal: PrincipalDep, services: ServicesDep) -> list[DriftPublic]:
    """Remote configuration drift: each shared attribute and the client attribute of the same key the
    device reported after applying it; `in_sync: false` where they differ or nothing was reported."""
    return [DriftPublic.model_validate(row) for row in services.attributes.drift(principal, device_id)]


@router.get("/{scope}", response_model=AttributesPublic)
def get_attributes(
    device_id: str, scope: str, principal: PrincipalDep, services: ServicesDep
) -> AttributesPublic:
    """The device's attributes of one scope (client, shared or server)."""
    found = services.attributes.get(principal, device_id, parse_scope(scope))
    items = [AttributePublic(key=a.key, value=a.value, updated_ms=a.updated_ms) for a in found]
    return _public(device_id, scope, items)


@router.put("/{scope}", response_model=AttributesPublic)
def set_attributes(
    device_id: str,
    scope: str,
    values: Annotated[dict[str, JsonValue], Body(examples=[{"target_pressure_bar": 7.5}])],
    principal: PrincipalDep,
    services: ServicesDep,
) -> AttributesPublic:
    """Set shared or server attributes (`{"key": value}`); shared ones are pushed to the device."""
    written = services.attributes.set(principal, device_id, parse_scope(scope), values)
    items = [AttributePublic(key=a.key, value=a.value, updated_ms=a.updated_ms) for a in written]
    return _public(device_id, scope, items)


@router.delete("/{scope}/{key}", status_code=status.HTTP_204_NO_CONTENT)
def delete_attribute(
    device_id: str, scope: str, key: str, principal: PrincipalDep, services: ServicesDep
) -> None:
    """Remove one shared or server attribute."""
    services.attributes.delete(principal, device_id, parse_scope(scope), key)
