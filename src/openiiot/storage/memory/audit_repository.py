"""Dict-based audit log with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

from openiiot.domain.audit import AuditEntry, AuditQuery
from openiiot.domain.errors import Conflict
from openiiot.storage.memory.metadata_repositories import MetadataTables, page


class MemoryAuditRepository:
    """The audit log in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def add(self, entry: AuditEntry) -> None:
        """Append one entry; Conflict when the id is taken."""
        if entry.id in self._t.audit:
            raise Conflict(f"audit entry {entry.id} exists")
        self._t.audit[entry.id] = entry

    def list(
        self, tenant_id: str | None, query: AuditQuery, *, offset: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """Matching entries of the tenant (None: every tenant), newest first."""
        found = (
            e
            for e in self._t.audit.values()
            if (tenant_id is None or e.tenant_id == tenant_id) and query.matches(e)
        )
        return page(found, lambda e: (-e.ts_ms, _reversed(e.id)), offset, limit)


def _reversed(text: str) -> tuple[int, ...]:
    # newest first also breaks ties by id descending, as the SQL query does
    return tuple(-ord(ch) for ch in text)
