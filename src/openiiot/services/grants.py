"""Sharing grants: create, list, revoke — and `authorize`, the one gate every shared endpoint passes.

`authorize` finds an active grant from the device's tenant to the caller's tenant that names the device
and the permission, and returns a *delegated* principal: the caller's identity, scoped to the customer's
tenant, with a role capped at operator. The shared endpoints hand that principal to the ordinary services,
so every existing check (roles, state machines, parameter limits) still applies, and the audit entries the
services write land in the customer's log with the partner as the actor. Reads are audited as
`grant.access`. A device not granted reads as not found; a granted device without the permission is 403.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from openiiot.domain.credentials import new_id
from openiiot.domain.errors import NotFound, PermissionDenied, ValidationFailed
from openiiot.domain.grants import ALL_KEYS, Grant, Permission
from openiiot.domain.model import Principal, Role
from openiiot.services.audit import record
from openiiot.services.authorization import ROLE_RANK, require_reader, require_role
from openiiot.services.ports import Clock, UnitOfWorkFactory

MAX_GRANT_DAYS = 3 * 365


class GrantService:
    """Grants given by the caller's tenant, grants received by it, and the gate of the shared API."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def create(self, principal: Principal, values: Mapping[str, Any]) -> Grant:
        """Grant a partner tenant access to some of the caller's devices (tenant admins)."""
        require_role(principal, Role.TENANT_ADMIN, "granting access")
        if principal.tenant_id is None:
            raise ValidationFailed("only a tenant grants access to its devices", field="tenant_id")
        now_ms = self._clock.now_ms()
        expires_ms = int(values.get("expires_ms", 0))
        if expires_ms > now_ms + MAX_GRANT_DAYS * 86_400_000:
            raise ValidationFailed(f"a grant lasts at most {MAX_GRANT_DAYS} days", field="expires_ms")
        grant = Grant(
            id=new_id(),
            grantor_tenant_id=principal.tenant_id,
            grantee_tenant_id=str(values.get("grantee_tenant_id", "")),
            device_ids=tuple(values.get("device_ids", ())),
            telemetry_keys=tuple(values.get("telemetry_keys", (ALL_KEYS,))),
            permissions=tuple(values.get("permissions", (Permission.TELEMETRY,))),
            created_by=principal.username,
            created_ms=now_ms,
            expires_ms=expires_ms,
            note=str(values.get("note", ""))[:500],
        )
        with self._uow() as uow:
            try:
                uow.tenants.get(grant.grantee_tenant_id)
            except NotFound as exc:
                raise ValidationFailed("no such partner tenant", field="grantee_tenant_id") from exc
            for device_id in grant.device_ids:
                uow.devices.get(grant.grantor_tenant_id, device_id)  # only the caller's own devices
            uow.grants.add(grant)
            details = {
                "grantee_tenant_id": grant.grantee_tenant_id,
                "devices": len(grant.device_ids),
                "permissions": [p.value for p in grant.permissions],
                "expires_ms": expires_ms,
            }
            record(uow, self._clock, principal, "grant.create", "grant", grant.id,
                   tenant_id=grant.grantor_tenant_id, details=details)  # fmt: skip
            uow.commit()
        return grant

    def given(self, principal: Principal) -> builtins.list[Grant]:
        """Grants the caller's tenant gave (operators and up)."""
        require_role(principal, Role.OPERATOR, "reading grants")
        with self._uow() as uow:
            return uow.grants.list(grantor_tenant_id=principal.tenant_id)

    def received(self, principal: Principal) -> builtins.list[Grant]:
        """Active grants the caller's tenant received."""
        require_reader(principal)
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            return [g for g in uow.grants.list(grantee_tenant_id=principal.tenant_id) if g.active(now_ms)]

    def revoke(self, principal: Principal, grant_id: str) -> Grant:
        """End a grant at once (the granting tenant's admins)."""
        require_role(principal, Role.TENANT_ADMIN, "revoking grants")
        with self._uow() as uow:
            grant = uow.grants.get(grant_id)
            if grant.grantor_tenant_id != principal.tenant_id:
                raise NotFound("grant", grant_id)
            if grant.revoked_ms is not None:
                return grant
            revoked = dataclasses.replace(
                grant, revoked_ms=self._clock.now_ms(), revoked_by=principal.username
            )
            uow.grants.update(revoked)
            details = {"grantee_tenant_id": grant.grantee_tenant_id}
            record(uow, self._clock, principal, "grant.revoke", "grant", grant_id,
                   tenant_id=grant.grantor_tenant_id, details=details)  # fmt: skip
            uow.commit()
        return revoked

    def authorize(
        self,
        principal: Principal,
        device_id: str,
        permission: Permission | None,
        *,
        access: str,
        keys: Sequence[str] = (),
    ) -> tuple[Grant, Principal]:
        """The grant that lets the caller do `access` on the device, and the delegated principal.

        Records `grant.access` in the customer's audit log, allowed or refused."""
        require_reader(principal)
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            grants = [
                g
                for g in uow.grants.list(grantee_tenant_id=principal.tenant_id)
                if g.active(now_ms) and g.covers(device_id)
            ]
            if not grants:
                raise NotFound("device", device_id)  # never say whether it exists
            allowed = [g for g in grants if permission is None or permission in g.permissions]
            refused_keys = [k for k in keys if allowed and not any(g.key_allowed(k) for g in allowed)]
            grant = (allowed or grants)[0]
            outcome = "ok" if allowed and not refused_keys else "denied"
            details: dict[str, Any] = {"access": access, "device_id": device_id, "grant_id": grant.id}
            if refused_keys:
                details["refused_keys"] = refused_keys
            record(uow, self._clock, principal, "grant.access", "device", device_id,
                   tenant_id=grant.grantor_tenant_id, details=details, outcome=outcome)  # fmt: skip
            uow.commit()
        if not allowed:
            raise PermissionDenied(f"the grant does not include {permission.value if permission else 'this'}")
        if refused_keys:
            raise PermissionDenied(f"the grant does not include the telemetry keys {', '.join(refused_keys)}")
        return grant, delegated(principal, grant)


def delegated(principal: Principal, grant: Grant) -> Principal:
    """The caller acting in the customer's tenant through `grant`, with a role no higher than operator."""
    role = principal.role if ROLE_RANK[principal.role] <= ROLE_RANK[Role.OPERATOR] else Role.OPERATOR
    return dataclasses.replace(
        principal, role=role, tenant_id=grant.grantor_tenant_id, home_tenant_id=principal.tenant_id
    )
