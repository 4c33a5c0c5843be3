"""Tenant handlers: platform admins manage enterprises; tenant users may read their own."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict
from openiiot.domain.model import Principal, Role, Tenant
from openiiot.services.authorization import check_visible_tenant, require_reader, require_role
from openiiot.services.changes import apply_changes
from openiiot.services.ports import UnitOfWorkFactory

log = logging.getLogger(__name__)

TENANT_FIELDS = frozenset(
    {"name", "timezone", "region_code", "industry_code", "credit_code", "retention_days"}
)


class TenantService:
    """Create, read, update and delete tenants."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def create(self, principal: Principal, values: Mapping[str, Any]) -> Tenant:
        """Create a tenant (platform admins only)."""
        require_role(principal, Role.PLATFORM_ADMIN, "creating tenants")
        tenant = Tenant(id=new_id(), **{k: v for k, v in values.items() if k in TENANT_FIELDS})
        with self._uow() as uow:
            uow.tenants.add(tenant)
            uow.commit()
        log.info("tenant created", extra={"tenant_id": tenant.id, "user_id": principal.user_id})
        return tenant

    def get(self, principal: Principal, tenant_id: str) -> Tenant:
        """One tenant; a tenant user sees only its own."""
        require_reader(principal)
        check_visible_tenant(principal, tenant_id)
        with self._uow() as uow:
            return uow.tenants.get(tenant_id)

    def list(self, principal: Principal, *, offset: int = 0, limit: int = 100) -> list[Tenant]:
        """All tenants for platform admins; the caller's own tenant for everyone else."""
        require_reader(principal)
        with self._uow() as uow:
            if principal.is_platform_admin:
                return uow.tenants.list(offset=offset, limit=limit)
            assert principal.tenant_id is not None
            return [uow.tenants.get(principal.tenant_id)] if offset == 0 and limit > 0 else []

    def update(self, principal: Principal, tenant_id: str, changes: Mapping[str, Any]) -> Tenant:
        """Change a tenant's fields (platform admins only; another tenant reads as absent to others)."""
        check_visible_tenant(principal, tenant_id)
        require_role(principal, Role.PLATFORM_ADMIN, "changing tenants")
        with self._uow() as uow:
            tenant: Tenant = apply_changes(uow.tenants.get(tenant_id), changes, TENANT_FIELDS)
            uow.tenants.update(tenant)
            uow.commit()
        return tenant

    def delete(self, principal: Principal, tenant_id: str) -> None:
        """Delete an empty tenant; one that still holds objects is a conflict."""
        check_visible_tenant(principal, tenant_id)
        require_role(principal, Role.PLATFORM_ADMIN, "deleting tenants")
        with self._uow() as uow:
            uow.tenants.get(tenant_id)
            holders = {
                "devices": uow.devices.list(tenant_id, limit=1),
                "device profiles": uow.profiles.list(tenant_id, limit=1),
                "sites": uow.sites.list(tenant_id, limit=1),
                "users": uow.users.list(tenant_id, limit=1),
            }
            for what, found in holders.items():
                if found:
                    raise Conflict(f"the tenant still has {what}; delete them first")
            uow.tenants.delete(tenant_id)
            uow.commit()
        log.info("tenant deleted", extra={"tenant_id": tenant_id, "user_id": principal.user_id})
