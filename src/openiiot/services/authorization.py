"""Role checks and tenant scoping shared by every management handler."""

from __future__ import annotations

from openiiot.domain.errors import NotFound, PermissionDenied, ValidationFailed
from openiiot.domain.model import Principal, Role

#: higher rank = more rights; a partner acts only through sharing grants, never on management objects
ROLE_RANK: dict[Role, int] = {
    Role.PLATFORM_ADMIN: 50,
    Role.TENANT_ADMIN: 40,
    Role.OPERATOR: 30,
    Role.TECHNICIAN: 20,
    Role.VIEWER: 10,
    Role.PARTNER: 0,
}


def role_at_least(role: Role, minimum: Role) -> bool:
    """True when `role` has at least the rights of `minimum`."""
    return ROLE_RANK[role] >= ROLE_RANK[minimum]


def require_role(principal: Principal, minimum: Role, action: str) -> None:
    """Raise PermissionDenied unless the caller's role is `minimum` or higher."""
    if not role_at_least(principal.role, minimum):
        raise PermissionDenied(f"{action} needs the role {minimum.value} or higher")


def require_reader(principal: Principal) -> None:
    """Every tenant role may read its tenant's objects; a partner reads only through sharing grants."""
    require_role(principal, Role.VIEWER, "reading")


def scope_of(principal: Principal) -> str | None:
    """The tenant scope handed to repositories: None (all tenants) only for platform admins."""
    return None if principal.is_platform_admin else principal.tenant_id


def target_tenant(principal: Principal, requested: str | None) -> str:
    """The tenant a new object belongs to.

    Platform admins must name it; everyone else creates in their own tenant, and naming another tenant
    is refused (403) rather than silently ignored, so a misdirected script fails loudly.
    """
    if principal.is_platform_admin:
        if requested is None:
            raise ValidationFailed("a platform admin must name the tenant_id", field="tenant_id")
        return requested
    if principal.tenant_id is None:  # pragma: no cover - a non-admin always has a tenant (User invariant)
        raise PermissionDenied("the caller belongs to no tenant")
    if requested is not None and requested != principal.tenant_id:
        raise PermissionDenied("objects can only be created in the caller's own tenant")
    return principal.tenant_id


def check_visible_tenant(principal: Principal, tenant_id: str) -> None:
    """Raise NotFound when the caller may not see `tenant_id` (another tenant reads as absent)."""
    if not principal.is_platform_admin and principal.tenant_id != tenant_id:
        raise NotFound("tenant", tenant_id)
