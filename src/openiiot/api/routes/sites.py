"""Sites."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.assets import SiteCreate, SitePublic, SiteUpdate
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page

router = APIRouter(prefix="/sites", tags=["sites"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=SitePublic, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, principal: PrincipalDep, services: ServicesDep) -> SitePublic:
    """Create a site."""
    values = body.model_dump(exclude={"tenant_id"})
    return SitePublic.model_validate(services.sites.create(principal, values, body.tenant_id))


@router.get("", response_model=Page[SitePublic])
def list_sites(
    principal: PrincipalDep, services: ServicesDep, offset: OffsetQuery = 0, limit: LimitQuery = 100
) -> Page[SitePublic]:
    """Sites of the caller's tenant."""
    items = services.sites.list(principal, offset=offset, limit=limit)
    return Page(items=[SitePublic.model_validate(s) for s in items], offset=offset, limit=limit)


@router.get("/{site_id}", response_model=SitePublic)
def get_site(site_id: str, principal: PrincipalDep, services: ServicesDep) -> SitePublic:
    """One site."""
    return SitePublic.model_validate(services.sites.get(principal, site_id))


@router.put("/{site_id}", response_model=SitePublic)
def update_site(site_id: str, body: SiteUpdate, principal: PrincipalDep, services: ServicesDep) -> SitePublic:
    """Change a site; omitted fields keep their value."""
    changes = body.model_dump(exclude_unset=True)
    return SitePublic.model_validate(services.sites.update(principal, site_id, changes))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(site_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a site without assets."""
    services.sites.delete(principal, site_id)
