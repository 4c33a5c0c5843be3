"""Work orders: open (by hand or from an alarm), assign, work, resolve, verify, close; checklist, comments,
parts and attachments; maintenance KPIs (docs/work-orders.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from pydantic import BaseModel, Field

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, InputModel, Page
from openiiot.domain.errors import ValidationFailed
from openiiot.domain.workorders import Priority, WorkOrder, WorkOrderState, workorder_to_dict

router = APIRouter(prefix="/work-orders", tags=["work orders"], responses=PROBLEM_RESPONSES)
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class WorkOrderCreate(InputModel):
    """A new work order; with `alarm_id` the alarm's device (and its asset) are linked."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    priority: Priority = Priority.MEDIUM
    alarm_id: str | None = None
    device_id: str | None = None
    asset_id: str | None = None
    checklist: list[str] = Field(default_factory=list, max_length=100)
    verify_after_s: int = Field(600, ge=0, le=7 * 86400, description="alarm clear this long -> verified")
    tenant_id: str | None = Field(None, description="Only for platform admins: the owning tenant")


class NoteBody(InputModel):
    """An optional note or reason."""

    note: str = Field("", max_length=2000)


class AssignBody(InputModel):
    """Who does the job."""

    assignee: str = Field(min_length=1, max_length=200)


class TextBody(InputModel):
    """A comment or a checklist item."""

    text: str = Field(min_length=1, max_length=10_000)


class CheckBody(InputModel):
    """Tick or untick a checklist item."""

    done: bool = True


class PartBody(InputModel):
    """A spare part used."""

    part_no: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    quantity: float = Field(gt=0, le=1_000_000)


class WorkOrderPublic(BaseModel):
    """A work order with its checklist, comments, attachments, parts and history."""

    id: str
    tenant_id: str
    title: str
    description: str
    priority: Priority
    state: WorkOrderState
    created_by: str
    created_ms: int
    respond_due_ms: int
    resolve_due_ms: int
    asset_id: str | None
    device_id: str | None
    alarm_id: str | None
    assignee: str | None
    verify_after_s: int
    responded_ms: int | None
    resolved_ms: int | None
    verified_ms: int | None
    closed_ms: int | None
    checklist: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    parts: list[dict[str, Any]]
    history: list[dict[str, Any]]


def _public(order: WorkOrder) -> WorkOrderPublic:
    return WorkOrderPublic.model_validate(workorder_to_dict(order))


@router.post("", response_model=WorkOrderPublic, status_code=status.HTTP_201_CREATED)
def open_work_order(body: WorkOrderCreate, principal: PrincipalDep, services: ServicesDep) -> WorkOrderPublic:
    """Open a work order (technicians and up)."""
    values = body.model_dump(exclude={"tenant_id"})
    return _public(services.workorders.create(principal, values, body.tenant_id))


@router.get("", response_model=Page[WorkOrderPublic])
def list_work_orders(
    principal: PrincipalDep,
    services: ServicesDep,
    state: WorkOrderState | None = None,
    assignee: str | None = None,
    asset_id: str | None = None,
    device_id: str | None = None,
    alarm_id: str | None = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[WorkOrderPublic]:
    """Work orders of the caller's tenant, newest first."""
    found = services.workorders.list(
        principal, state=state, assignee=assignee, asset_id=asset_id, device_id=device_id,
        alarm_id=alarm_id, offset=offset, limit=limit,
    )  # fmt: skip
    return Page(items=[_public(o) for o in found], offset=offset, limit=limit)


@router.get("/kpis")
def work_order_kpis(
    principal: PrincipalDep,
    services: ServicesDep,
    from_ms: Annotated[int, Query(description="Opened at or after (UTC ms)")],
    to_ms: Annotated[int, Query(description="Opened before (UTC ms)")],
    group_by: Annotated[str | None, Query(description="asset, device_type or tenant")] = None,
) -> dict[str, Any]:
    """MTTA, MTTR, MTBF (two definitions) and SLA compliance of the work orders opened in the range."""
    return services.workorders.kpis(principal, from_ms, to_ms, group_by)


@router.get("/{order_id}", response_model=WorkOrderPublic)
def get_work_order(order_id: str, principal: PrincipalDep, services: ServicesDep) -> WorkOrderPublic:
    """One work order."""
    return _public(services.workorders.get(principal, order_id))


@router.post("/{order_id}/assign", response_model=WorkOrderPublic)
def assign(
    order_id: str, body: AssignBody, principal: PrincipalDep, services: ServicesDep
) -> WorkOrderPublic:
    """Assign (or reassign) to a user of the tenant (operators and up)."""
    return _public(services.workorders.assign(principal, order_id, body.assignee))


@router.post("/{order_id}/comments", response_model=WorkOrderPublic)
def comment(order_id: str, body: TextBody, principal: PrincipalDep, services: ServicesDep) -> WorkOrderPublic:
    """Add a comment."""
    return _public(services.workorders.comment(principal, order_id, body.text))


@router.post("/{order_id}/checklist", response_model=WorkOrderPublic)
def add_item(
    order_id: str, body: TextBody, principal: PrincipalDep, services: ServicesDep
) -> WorkOrderPublic:
    """Add a checklist item."""
    return _public(services.workorders.add_checklist_item(principal, order_id, body.text))


@router.put("/{order_id}/checklist/{index}", response_model=WorkOrderPublic)
def check_item(
    order_id: str, index: int, body: CheckBody, principal: PrincipalDep, services: ServicesDep
) -> WorkOrderPublic:
    """Tick or untick checklist item `index` (from 0)."""
    return _public(services.workorders.check_item(principal, order_id, index, body.done))


@router.post("/{order_id}/parts", response_model=WorkOrderPublic)
def add_part(
    order_id: str, body: PartBody, principal: PrincipalDep, services: ServicesDep
) -> WorkOrderPublic:
    """Record a spare part used."""
    return _public(
        services.workorders.add_part(principal, order_id, body.part_no, body.description, body.quantity)
    )


@router.post("/{order_id}/attachments", response_model=WorkOrderPublic)
async def attach(
    order_id: str, principal: PrincipalDep, services: ServicesDep, file: Annotated[UploadFile, File()]
) -> WorkOrderPublic:
    """Attach a photo, report or PDF (at most 10 MB; JPEG, PNG, WebP, PDF, text, CSV, ZIP)."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    order = services.workorders.attach(
        principal, order_id, file.filename or "file", file.content_type or "application/octet-stream", data
    )
    return _public(order)


@router.get("/{order_id}/attachments/{attachment_id}")
def download(order_id: str, attachment_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """An attachment's bytes."""
    meta, data = services.workorders.attachment(principal, order_id, attachment_id)
    disposition = f'attachment; filename="{meta.filename.replace(chr(34), "")}"'
    return Response(data, media_type=meta.content_type, headers={"Content-Disposition": disposition})


@router.post("/{order_id}/{action}", response_model=WorkOrderPublic)
def step(
    order_id: str, action: str, principal: PrincipalDep, services: ServicesDep, body: NoteBody | None = None
) -> WorkOrderPublic:
    """`start`, `hold`, `resolve`, `reopen`, `verify`, `close` or `cancel`, with an optional note (a reason
    for hold, reopen and cancel)."""
    note = body.note if body is not None else ""
    svc = services.workorders
    actions = {
        "start": lambda: svc.start(principal, order_id),
        "hold": lambda: svc.hold(principal, order_id, note),
        "resolve": lambda: svc.resolve(principal, order_id, note),
        "reopen": lambda: svc.reopen(principal, order_id, note),
        "verify": lambda: svc.verify(principal, order_id, note),
        "close": lambda: svc.close(principal, order_id),
        "cancel": lambda: svc.cancel(principal, order_id, note),
    }
    if action not in actions:
        raise ValidationFailed(f"unknown action {action!r}; use one of {', '.join(actions)}", field="action")
    return _public(actions[action]())
