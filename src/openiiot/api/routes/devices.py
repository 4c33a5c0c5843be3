"""Devices: CRUD, search, bulk CSV provisioning, credential rotation, disable and enable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.api.schemas.devices import (
    BulkReport,
    CredentialsRotated,
    DeviceCreate,
    DeviceCreated,
    DevicePublic,
    DeviceUpdate,
)
from openiiot.domain.connectivity import Status
from openiiot.services.provisioning import MAX_FILE_BYTES

router = APIRouter(prefix="/devices", tags=["devices"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[DevicePublic])
def list_devices(
    principal: PrincipalDep,
    services: ServicesDep,
    search: Annotated[str | None, Query(max_length=200, description="Part of the name or label")] = None,
    profile_id: str | None = None,
    asset_id: str | None = None,
    gateway_id: Annotated[str | None, Query(description="Only the children of this gateway")] = None,
    status: Annotated[
        Status | None,
        Query(description="Connectivity status: active, connected-inactive, disconnected or never-seen"),
    ] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[DevicePublic]:
    """Devices of the caller's tenant matching the filters, with the total count of matches."""
    ids = (
        None
        if status is None
        else set(services.connectivity.device_ids_with_status(principal, status, limit=10_000_000))
    )
    page = services.devices.search(
        principal,
        search=search,
        profile_id=profile_id,
        asset_id=asset_id,
        gateway_id=gateway_id,
        ids=ids,
        offset=offset,
        limit=limit,
    )
    items = [DevicePublic.model_validate(d) for d in page.items]
    return Page(items=items, offset=offset, limit=limit, total=page.total)


@router.post("", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceCreate, principal: PrincipalDep, services: ServicesDep) -> DeviceCreated:
    """Create a device; its access token is in this answer only."""
    values = body.model_dump(exclude={"tenant_id"})
    created = services.devices.create(principal, values, body.tenant_id)
    return DeviceCreated(
        device=DevicePublic.model_validate(created.device), access_token=created.access_token
    )


@router.post("/bulk", response_model=BulkReport)
def provision_devices(
    file: Annotated[
        UploadFile, File(description="CSV with the columns name,profile,label,asset,gateway (UTF-8)")
    ],
    principal: PrincipalDep,
    services: ServicesDep,
    tenant_id: Annotated[str | None, Query(description="Target tenant (platform admins only)")] = None,
) -> BulkReport:
    """Create many devices from CSV; valid rows are created, the others reported with row, field, reason."""
    # one byte more than allowed is enough to tell that the file is too large, without reading it all
    data = file.file.read(MAX_FILE_BYTES + 1)
    report = services.provisioning.provision_csv(principal, data, tenant_id)
    return BulkReport.model_validate(report)


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(device_id: str, principal: PrincipalDep, services: ServicesDep) -> DevicePublic:
    """One device."""
    return DevicePublic.model_validate(services.devices.get(principal, device_id))


@router.put("/{device_id}", response_model=DevicePublic)
def update_device(
    device_id: str, body: DeviceUpdate, principal: PrincipalDep, services: ServicesDep
) -> DevicePublic:
    """Change a device; omitted fields keep their value."""
    changes = body.model_dump(exclude_unset=True)
    return DevicePublic.model_validate(services.devices.update(principal, device_id, changes))


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(device_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a device with its attributes and telemetry."""
    services.devices.delete(principal, device_id)


@router.post("/{device_id}/credentials/rotate", response_model=CredentialsRotated)
def rotate_credentials(device_id: str, principal: PrincipalDep, services: ServicesDep) -> CredentialsRotated:
    """Issue a new access token; the old one stops working at once."""
    return CredentialsRotated(access_token=services.devices.rotate_credentials(principal, device_id))


@router.post("/{device_id}/disable", response_model=DevicePublic)
def disable_device(device_id: str, principal: PrincipalDep, services: ServicesDep) -> DevicePublic:
    """Refuse the device's connections and data until it is enabled again."""
    return DevicePublic.model_validate(services.devices.set_disabled(principal, device_id, True))


@router.post("/{device_id}/enable", response_model=DevicePublic)
def enable_device(device_id: str, principal: PrincipalDep, services: ServicesDep) -> DevicePublic:
    """Accept the device's connections and data again."""
    return DevicePublic.model_validate(services.devices.set_disabled(principal, device_id, False))
