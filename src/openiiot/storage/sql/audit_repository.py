"""SQL audit log: insert-only, searched by tenant, time, actor, action and object."""

from __future__ import annotations

from sqlalchemy import select

from openiiot.domain.audit import AuditEntry, AuditQuery
from openiiot.storage.sql.repository_base import SqlRepository, from_row, values_of
from openiiot.storage.sql.tables import AuditRow


class SqlAuditRepository(SqlRepository):
    """The audit log in the `audit_log` table."""

    def add(self, entry: AuditEntry) -> None:
        """Append one entry (flushed at once, committed with the change it records)."""
        self._session.add(AuditRow(**values_of(entry)))
        self._flush()

    def list(
        self, tenant_id: str | None, query: AuditQuery, *, offset: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """Matching entries of the tenant (None: every tenant), newest first."""
        stmt = select(AuditRow)
        if tenant_id is not None:
            stmt = stmt.where(AuditRow.tenant_id == tenant_id)
        if query.from_ms is not None:
            stmt = stmt.where(AuditRow.ts_ms >= query.from_ms)
        if query.to_ms is not None:
            stmt = stmt.where(AuditRow.ts_ms < query.to_ms)
        if query.actor_id is not None:
            stmt = stmt.where(AuditRow.actor_id == query.actor_id)
        if query.action is not None:
            if query.action.endswith("."):
                stmt = stmt.where(AuditRow.action.startswith(query.action, autoescape=True))
            else:
                stmt = stmt.where(AuditRow.action == query.action)
        if query.object_type is not None:
            stmt = stmt.where(AuditRow.object_type == query.object_type)
        if query.object_id is not None:
            stmt = stmt.where(AuditRow.object_id == query.object_id)
        stmt = stmt.order_by(AuditRow.ts_ms.desc(), AuditRow.id.desc())
        return [from_row(AuditEntry, row) for row in self._page(stmt, offset, limit)]
