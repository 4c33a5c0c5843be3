"""Assets: the tree of stations, lines and machines under a site."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.assets import AssetCreate, AssetPublic, AssetUpdate, MaintenanceMode
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page

router = APIRouter(prefix="/assets", tags=["assets"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=AssetPublic, status_code=status.HTTP_201_CREATED)
def create_asset(body: AssetCreate, principal: PrincipalDep, services: ServicesDep) -> AssetPublic:
    """Create an asset under a site, optionally below a parent asset."""
    values = body.model_dump(exclude={"tenant_id", "site_id"})
    asset = services.assets.create(principal, site_id=body.site_id, values=values, tenant_id=body.tenant_id)
    return AssetPublic.model_validate(asset)


@router.get("", response_model=Page[AssetPublic])
def list_assets(
    principal: PrincipalDep,
    services: ServicesDep,
    site_id: str | None = None,
    parent_id: str | None = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[AssetPublic]:
    """Assets of the caller's tenant, optionally of one site or below one parent."""
    items = services.assets.list(principal, site_id=site_id, parent_id=parent_id, offset=offset, limit=limit)
    return Page(items=[AssetPublic.model_validate(a) for a in items], offset=offset, limit=limit)


@router.get("/{asset_id}", response_model=AssetPublic)
def get_asset(asset_id: str, principal: PrincipalDep, services: ServicesDep) -> AssetPublic:
    """One asset."""
    return AssetPublic.model_validate(services.assets.get(principal, asset_id))


@router.get("/{asset_id}/children", response_model=list[AssetPublic])
def list_children(asset_id: str, principal: PrincipalDep, services: ServicesDep) -> list[AssetPublic]:
    """The direct children of an asset."""
    return [AssetPublic.model_validate(a) for a in services.assets.children(principal, asset_id)]


@router.put("/{asset_id}", response_model=AssetPublic)
def update_asset(
    asset_id: str, body: AssetUpdate, principal: PrincipalDep, services: ServicesDep
) -> AssetPublic:
    """Rename or move an asset, or toggle maintenance mode."""
    changes = body.model_dump(exclude_unset=True)
    return AssetPublic.model_validate(services.assets.update(principal, asset_id, changes))


@router.post("/{asset_id}/maintenance", response_model=AssetPublic)
def set_maintenance(
    asset_id: str, body: MaintenanceMode, principal: PrincipalDep, services: ServicesDep
) -> AssetPublic:
    """Switch maintenance mode (operators and above)."""
    return AssetPublic.model_validate(services.assets.set_maintenance(principal, asset_id, body.on))


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_asset(asset_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a leaf asset without devices."""
    services.assets.delete(principal, asset_id)
