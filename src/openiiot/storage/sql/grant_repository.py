"""SQL storage of sharing grants."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from openiiot.domain.errors import NotFound
from openiiot.domain.grants import Grant, Permission
from openiiot.storage.sql.repository_base import SqlRepository
from openiiot.storage.sql.tables import GrantRow


def _body(grant: Grant) -> dict[str, Any]:
    return {
        "device_ids": list(grant.device_ids),
        "telemetry_keys": list(grant.telemetry_keys),
        "permissions": [p.value for p in grant.permissions],
        "created_by": grant.created_by,
        "created_ms": grant.created_ms,
        "revoked_by": grant.revoked_by,
        "note": grant.note,
    }


def _values(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "grantor_tenant_id": grant.grantor_tenant_id,
        "grantee_tenant_id": grant.grantee_tenant_id,
        "expires_ms": grant.expires_ms,
        "revoked_ms": grant.revoked_ms,
        "body": _body(grant),
    }


def _grant(row: GrantRow) -> Grant:
    body = row.body
    return Grant(
        id=row.id,
        grantor_tenant_id=row.grantor_tenant_id,
        grantee_tenant_id=row.grantee_tenant_id,
        device_ids=tuple(body["device_ids"]),
        telemetry_keys=tuple(body["telemetry_keys"]),
        permissions=tuple(Permission(p) for p in body["permissions"]),
        created_by=body["created_by"],
        created_ms=body["created_ms"],
        expires_ms=row.expires_ms,
        revoked_ms=row.revoked_ms,
        revoked_by=body.get("revoked_by"),
        note=body.get("note", ""),
    )


class SqlGrantRepository(SqlRepository):
    """The `grants` table."""

    def add(self, grant: Grant) -> None:
        """Store a new grant."""
        self._session.add(GrantRow(**_values(grant)))
        self._flush()

    def get(self, grant_id: str) -> Grant:
        """One grant, or NotFound."""
        row = self._session.get(GrantRow, grant_id)
        if row is None:
            raise NotFound("grant", grant_id)
        return _grant(row)

    def update(self, grant: Grant) -> None:
        """Replace a stored grant."""
        row = self._session.get(GrantRow, grant.id)
        if row is None:
            raise NotFound("grant", grant.id)
        for name, value in _values(grant).items():
            setattr(row, name, value)
        self._flush()

    def list(
        self, *, grantor_tenant_id: str | None = None, grantee_tenant_id: str | None = None
    ) -> builtins.list[Grant]:
        """Grants given by or to a tenant, newest first."""
        stmt = select(GrantRow)
        if grantor_tenant_id is not None:
            stmt = stmt.where(GrantRow.grantor_tenant_id == grantor_tenant_id)
        if grantee_tenant_id is not None:
            stmt = stmt.where(GrantRow.grantee_tenant_id == grantee_tenant_id)
        stmt = stmt.order_by(GrantRow.id.desc())
        return sorted((_grant(r) for r in self._session.scalars(stmt)), key=lambda g: -g.created_ms)
