"""Recording actions in the audit log, and reading it back.

A handler that changes state calls `record(uow, clock, principal, ...)` inside its own unit of work,
before `uow.commit()`: the entry is committed with the change or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from openiiot.domain.audit import MAX_DETAILS_CHARS, AuditEntry, AuditQuery
from openiiot.domain.credentials import new_id
from openiiot.domain.model import Principal, Role
from openiiot.services.authorization import require_role, scope_of
from openiiot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

EXPORT_PAGE = 1_000
MAX_EXPORT_ROWS = 100_000  # one CSV download; narrow the time range for more


def _bounded(details: Mapping[str, Any]) -> dict[str, Any]:
    # secrets never reach the log; oversized details are cut, with a marker that says so
    clean = {
        k: v for k, v in details.items() if "secret" not in k and "token" not in k and "password" not in k
    }
    text = json.dumps(clean, default=str, ensure_ascii=False)
    if len(text) <= MAX_DETAILS_CHARS:
        return json.loads(text)  # type: ignore[no-any-return]
    return {"truncated": True, "summary": text[: MAX_DETAILS_CHARS - 100]}


def record(
    uow: UnitOfWork,
    clock: Clock,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str,
    *,
    tenant_id: str | None,
    details: Mapping[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    """Add an entry for `principal` doing `action` to an object owned by `tenant_id` to this unit of work."""
    entry = AuditEntry(
        id=new_id(),
        ts_ms=clock.now_ms(),
        tenant_id=tenant_id,
        actor_id=principal.user_id,
        actor_name=principal.username,
        actor_role=principal.role.value,
        actor_tenant_id=principal.home_tenant_id or principal.tenant_id,
        source_ip=principal.source_ip,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        details=_bounded(details or {}),
    )
    uow.audit.add(entry)
    return entry


class AuditService:
    """Reads the audit log: a tenant's operators and admins see their tenant's entries."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def search(
        self, principal: Principal, query: AuditQuery, *, offset: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """One page of matching entries, newest first."""
        require_role(principal, Role.OPERATOR, "reading the audit log")
        with self._uow() as uow:
            return uow.audit.list(scope_of(principal), query, offset=offset, limit=limit)

    def export(self, principal: Principal, query: AuditQuery) -> Iterator[AuditEntry]:
        """Every matching entry, newest first, page by page, at most MAX_EXPORT_ROWS."""
        require_role(principal, Role.OPERATOR, "reading the audit log")
        if query.to_ms is None:  # entries recorded while the export runs would shift the pages
            query = replace(query, to_ms=self._clock.now_ms() + 1)
        offset = 0
        while offset < MAX_EXPORT_ROWS:
            limit = min(EXPORT_PAGE, MAX_EXPORT_ROWS - offset)
            with self._uow() as uow:
                page = uow.audit.list(scope_of(principal), query, offset=offset, limit=limit)
            yield from page
            if len(page) < limit:
                return
            offset += len(page)
