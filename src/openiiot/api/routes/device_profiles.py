"""Device profiles."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.api.schemas.profiles import DeviceProfileCreate, DeviceProfilePublic, DeviceProfileUpdate

router = APIRouter(prefix="/device-profiles", tags=["device profiles"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=DeviceProfilePublic, status_code=status.HTTP_201_CREATED)
def create_profile(
    body: DeviceProfileCreate, principal: PrincipalDep, services: ServicesDep
) -> DeviceProfilePublic:
    """Create a device profile."""
    values = body.model_dump(exclude={"tenant_id"})
    return DeviceProfilePublic.model_validate(services.profiles.create(principal, values, body.tenant_id))


@router.get("", response_model=Page[DeviceProfilePublic])
def list_profiles(
    principal: PrincipalDep, services: ServicesDep, offset: OffsetQuery = 0, limit: LimitQuery = 100
) -> Page[DeviceProfilePublic]:
    """Profiles of the caller's tenant."""
    items = services.profiles.list(principal, offset=offset, limit=limit)
    return Page(items=[DeviceProfilePublic.model_validate(p) for p in items], offset=offset, limit=limit)


@router.get("/{profile_id}", response_model=DeviceProfilePublic)
def get_profile(profile_id: str, principal: PrincipalDep, services: ServicesDep) -> DeviceProfilePublic:
    """One profile."""
    return DeviceProfilePublic.model_validate(services.profiles.get(principal, profile_id))


@router.put("/{profile_id}", response_model=DeviceProfilePublic)
def update_profile(
    profile_id: str, body: DeviceProfileUpdate, principal: PrincipalDep, services: ServicesDep
) -> DeviceProfilePublic:
    """Change a profile; `keys`, when given, replaces the whole list."""
    changes = body.model_dump(exclude_unset=True)
    return DeviceProfilePublic.model_validate(services.profiles.update(principal, profile_id, changes))


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_profile(profile_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a profile no device uses."""
    services.profiles.delete(principal, profile_id)
