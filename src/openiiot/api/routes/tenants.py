"""Tenants (enterprises)."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.api.schemas.tenants import TenantCreate, TenantPublic, TenantUpdate

router = APIRouter(prefix="/tenants", tags=["tenants"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=TenantPublic, status_code=status.HTTP_201_CREATED)
def create_tenant(body: TenantCreate, principal: PrincipalDep, services: ServicesDep) -> TenantPublic:
    """Create a tenant (platform admins)."""
    return TenantPublic.model_validate(services.tenants.create(principal, body.model_dump()))


@router.get("", response_model=Page[TenantPublic])
def list_tenants(
    principal: PrincipalDep, services: ServicesDep, offset: OffsetQuery = 0, limit: LimitQuery = 100
) -> Page[TenantPublic]:
    """Every tenant for platform admins; one's own tenant otherwise."""
    items = services.tenants.list(principal, offset=offset, limit=limit)
    return Page(items=[TenantPublic.model_validate(t) for t in items], offset=offset, limit=limit)


@router.get("/{tenant_id}", response_model=TenantPublic)
def get_tenant(tenant_id: str, principal: PrincipalDep, services: ServicesDep) -> TenantPublic:
    """One tenant."""
    return TenantPublic.model_validate(services.tenants.get(principal, tenant_id))


@router.put("/{tenant_id}", response_model=TenantPublic)
def update_tenant(
    tenant_id: str, body: TenantUpdate, principal: PrincipalDep, services: ServicesDep
) -> TenantPublic:
    """Change a tenant's fields; omitted fields keep their value."""
    changes = body.model_dump(exclude_unset=True)
    return TenantPublic.model_validate(services.tenants.update(principal, tenant_id, changes))


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tenant(tenant_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete an empty tenant."""
    services.tenants.delete(principal, tenant_id)
