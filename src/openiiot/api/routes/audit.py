"""The audit log: search it, or download it as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.domain.audit import AuditEntry, AuditQuery

router = APIRouter(prefix="/audit", tags=["audit"], responses=PROBLEM_RESPONSES)

CSV_COLUMNS = (
    "ts_ms",
    "time_utc",
    "tenant_id",
    "actor_id",
    "actor_name",
    "actor_role",
    "actor_tenant_id",
    "source_ip",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "details",
)


class AuditEntryPublic(BaseModel):
    """One recorded action."""

    id: str
    ts_ms: int
    tenant_id: str | None
    actor_id: str
    actor_name: str
    actor_role: str
    actor_tenant_id: str | None
    source_ip: str | None
    action: str
    object_type: str
    object_id: str
    outcome: str
    details: dict[str, Any]


FromQuery = Annotated[int | None, Query(description="At or after (UTC ms)")]
ToQuery = Annotated[int | None, Query(description="Before (UTC ms)")]
ActionQuery = Annotated[
    str | None, Query(description="An action (`device.rotate_credentials`) or a prefix ending in `.`")
]


def _query(
    from_ms: int | None,
    to_ms: int | None,
    actor_id: str | None,
    action: str | None,
    object_type: str | None,
    object_id: str | None,
) -> AuditQuery:
    return AuditQuery(
        from_ms=from_ms,
        to_ms=to_ms,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
    )


@router.get("", response_model=Page[AuditEntryPublic])
def search_audit(
    principal: PrincipalDep,
    services: ServicesDep,
    from_ms: FromQuery = None,
    to_ms: ToQuery = None,
    actor_id: str | None = None,
    action: ActionQuery = None,
    object_type: str | None = None,
    object_id: str | None = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[AuditEntryPublic]:
    """Audit entries of the caller's tenant, newest first (operators and admins)."""
    query = _query(from_ms, to_ms, actor_id, action, object_type, object_id)
    items = services.audit.search(principal, query, offset=offset, limit=limit)
    return Page(
        items=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in items],
        offset=offset,
        limit=limit,
    )


def _csv_lines(entries: Iterator[AuditEntry]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(_csv_row(entry))
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_row(entry: AuditEntry) -> list[object]:
    time_utc = datetime.fromtimestamp(entry.ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    values: dict[str, object] = {
        "ts_ms": entry.ts_ms,
        "time_utc": time_utc,
        "tenant_id": entry.tenant_id or "",
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "actor_role": entry.actor_role,
        "actor_tenant_id": entry.actor_tenant_id or "",
        "source_ip": entry.source_ip or "",
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "outcome": entry.outcome,
        "details": json.dumps(entry.details, ensure_ascii=False, sort_keys=True),
    }
    return [values[c] for c in CSV_COLUMNS]


@router.get(".csv", response_class=StreamingResponse)
def export_audit_csv(
    principal: PrincipalDep,
    services: ServicesDep,
    from_ms: FromQuery = None,
    to_ms: ToQuery = None,
    actor_id: str | None = None,
    action: ActionQuery = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> StreamingResponse:
    """The matching entries as CSV (UTF-8, newest first, at most 100,000 rows per download)."""
    query = _query(from_ms, to_ms, actor_id, action, object_type, object_id)
    entries = services.audit.export(principal, query)
    first = next(entries, None)  # a refused caller gets the error now, not a broken download

    def rows() -> Iterator[AuditEntry]:
        if first is not None:
            yield first
            yield from entries

    return StreamingResponse(
        _csv_lines(rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
