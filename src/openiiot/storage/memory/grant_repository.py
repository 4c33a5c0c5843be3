"""Dict-based grant storage with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

import builtins

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.grants import Grant
from openiiot.storage.memory.metadata_repositories import MetadataTables


class MemoryGrantRepository:
    """Grants in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def add(self, grant: Grant) -> None:
        """Store a new grant."""
        if grant.id in self._t.grants:
            raise Conflict(f"grant {grant.id} exists")
        self._t.grants[grant.id] = grant

    def get(self, grant_id: str) -> Grant:
        """One grant, or NotFound."""
        if grant_id not in self._t.grants:
            raise NotFound("grant", grant_id)
        return self._t.grants[grant_id]

    def update(self, grant: Grant) -> None:
        """Replace a stored grant."""
        self.get(grant.id)
        self._t.grants[grant.id] = grant

    def list(
        self, *, grantor_tenant_id: str | None = None, grantee_tenant_id: str | None = None
    ) -> builtins.list[Grant]:
        """Grants given by or to a tenant, newest first."""
        found = [
            g
            for g in self._t.grants.values()
            if (grantor_tenant_id is None or g.grantor_tenant_id == grantor_tenant_id)
            and (grantee_tenant_id is None or g.grantee_tenant_id == grantee_tenant_id)
        ]
        return sorted(found, key=lambda g: -g.created_ms)
