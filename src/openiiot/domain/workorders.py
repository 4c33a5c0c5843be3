"""Work orders: the service loop's unit of work — opened from an alarm or by hand, assigned, worked,
resolved, verified, closed — with SLA due times, checklist, comments, attachments and parts used.

States and the steps between them (anything else is refused with a Conflict):

    OPEN -> ASSIGNED -> IN_PROGRESS <-> ON_HOLD
    IN_PROGRESS -> RESOLVED -> VERIFIED -> CLOSED
    RESOLVED -> IN_PROGRESS            (the fix did not hold: reopened)
    ASSIGNED -> ASSIGNED               (reassigned)
    OPEN, ASSIGNED, IN_PROGRESS, ON_HOLD -> CANCELLED

A work order on an alarm cannot be verified while the alarm is active; it is verified automatically once
the alarm has been cleared for `verify_after_s` (services/workorders.py runs that check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from openiiot.domain.errors import Conflict, ValidationFailed

MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_CHECKLIST = 100


class Priority(StrEnum):
    """How urgent; each has a response and a resolution target (SLA)."""

    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: (respond within, resolve within) in hours, per priority — the default service level
SLA_HOURS: dict[Priority, tuple[float, float]] = {
    Priority.URGENT: (1, 4),
    Priority.HIGH: (4, 24),
    Priority.MEDIUM: (24, 72),
    Priority.LOW: (72, 240),
}


class WorkOrderState(StrEnum):
    """Where a work order stands."""

    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    CANCELLED = "cancelled"


_ALLOWED: dict[WorkOrderState, frozenset[WorkOrderState]] = {
    WorkOrderState.OPEN: frozenset({WorkOrderState.ASSIGNED, WorkOrderState.CANCELLED}),
    WorkOrderState.ASSIGNED: frozenset(
        {WorkOrderState.ASSIGNED, WorkOrderState.IN_PROGRESS, WorkOrderState.CANCELLED}
    ),
    WorkOrderState.IN_PROGRESS: frozenset(
        {WorkOrderState.ON_HOLD, WorkOrderState.RESOLVED, WorkOrderState.CANCELLED}
    ),
    WorkOrderState.ON_HOLD: frozenset({WorkOrderState.IN_PROGRESS, WorkOrderState.CANCELLED}),
    WorkOrderState.RESOLVED: frozenset({WorkOrderState.VERIFIED, WorkOrderState.IN_PROGRESS}),
    WorkOrderState.VERIFIED: frozenset({WorkOrderState.CLOSED}),
}


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One step of the job."""

    text: str
    done: bool = False
    done_by: str | None = None
    done_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A note on the work order."""

    ts_ms: int
    by: str
    text: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to the work order; the bytes live in the attachment store under `id`."""

    id: str
    filename: str
    content_type: str
    size_bytes: int
    ts_ms: int
    by: str


@dataclass(frozen=True, slots=True)
class PartUsed:
    """A spare part consumed by the job."""

    part_no: str
    description: str
    quantity: float
    ts_ms: int
    by: str


@dataclass(frozen=True, slots=True)
class Step:
    """One state change."""

    ts_ms: int
    state: WorkOrderState
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """One job on one asset or device, possibly caused by an alarm."""

    id: str
    tenant_id: str
    title: str
    priority: Priority
    state: WorkOrderState
    created_by: str
    created_ms: int
    respond_due_ms: int
    resolve_due_ms: int
    description: str = ""
    asset_id: str | None = None
    device_id: str | None = None
    alarm_id: str | None = None
    assignee: str | None = None
    verify_after_s: int = 600  # automatic verification: the alarm must have stayed clear this long
    responded_ms: int | None = None  # first assignment: the end of "time to acknowledge"
    resolved_ms: int | None = None
    verified_ms: int | None = None
    closed_ms: int | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    comments: tuple[Comment, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    parts: tuple[PartUsed, ...] = ()
    history: tuple[Step, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.title.strip() or len(self.title) > MAX_TITLE:
            raise ValidationFailed(f"title must be 1-{MAX_TITLE} characters", field="title")
        if len(self.description) > MAX_TEXT:
            raise ValidationFailed(f"description must be at most {MAX_TEXT} characters", field="description")
        if len(self.checklist) > MAX_CHECKLIST:
            raise ValidationFailed(f"at most {MAX_CHECKLIST} checklist items", field="checklist")
        if not 0 <= self.verify_after_s <= 7 * 86400:
            raise ValidationFailed("verify_after_s must be between 0 and 7 days", field="verify_after_s")

    def to(self, state: WorkOrderState, ts_ms: int, by: str, note: str = "", **changes: Any) -> WorkOrder:
        """The work order in `state`; Conflict when the state machine forbids the step."""
        if state not in _ALLOWED.get(self.state, frozenset()):
            raise Conflict(
                f"a work order that is {self.state.value} cannot become {state.value}", field="state"
            )
        stamps: dict[str, Any] = {}
        if state is WorkOrderState.ASSIGNED and self.responded_ms is None:
            stamps["responded_ms"] = ts_ms
        if state is WorkOrderState.RESOLVED:
            stamps["resolved_ms"] = ts_ms
        if state is WorkOrderState.IN_PROGRESS and self.state is WorkOrderState.RESOLVED:
            stamps["resolved_ms"] = None  # reopened: it is not resolved any more
        if state is WorkOrderState.VERIFIED:
            stamps["verified_ms"] = ts_ms
        if state in (WorkOrderState.CLOSED, WorkOrderState.CANCELLED):
            stamps["closed_ms"] = ts_ms
        return replace(
            self, state=state, history=(*self.history, Step(ts_ms, state, by, note)), **{**stamps, **changes}
        )

    @property
    def is_open(self) -> bool:
        """Not closed, cancelled or verified."""
        return self.state not in (WorkOrderState.VERIFIED, WorkOrderState.CLOSED, WorkOrderState.CANCELLED)


def sla_due(priority: Priority, created_ms: int) -> tuple[int, int]:
    """(respond by, resolve by) for a work order of this priority opened at `created_ms`."""
    respond_h, resolve_h = SLA_HOURS[priority]
    return created_ms + int(respond_h * 3_600_000), created_ms + int(resolve_h * 3_600_000)


def workorder_to_dict(order: WorkOrder) -> dict[str, Any]:
    """The JSON form (storage and API)."""
    out: dict[str, Any] = {
        name: getattr(order, name)
        for name in (
            "id", "tenant_id", "title", "created_by", "created_ms", "respond_due_ms", "resolve_due_ms",
            "description", "asset_id", "device_id", "alarm_id", "assignee", "verify_after_s", "responded_ms",
            "resolved_ms", "verified_ms", "closed_ms",
        )
    }  # fmt: skip
    out["priority"] = order.priority.value
    out["state"] = order.state.value
    out["checklist"] = [vars_of(i) for i in order.checklist]
    out["comments"] = [vars_of(c) for c in order.comments]
    out["attachments"] = [vars_of(a) for a in order.attachments]
    out["parts"] = [vars_of(p) for p in order.parts]
    out["history"] = [{**vars_of(s), "state": s.state.value} for s in order.history]
    return out


def workorder_from_dict(raw: Mapping[str, Any]) -> WorkOrder:
    """The inverse of `workorder_to_dict`."""
    values = dict(raw)
    values["priority"] = Priority(values["priority"])
    values["state"] = WorkOrderState(values["state"])
    values["checklist"] = tuple(ChecklistItem(**i) for i in values["checklist"])
    values["comments"] = tuple(Comment(**c) for c in values["comments"])
    values["attachments"] = tuple(Attachment(**a) for a in values["attachments"])
    values["parts"] = tuple(PartUsed(**p) for p in values["parts"])
    values["history"] = tuple(Step(**{**s, "state": WorkOrderState(s["state"])}) for s in values["history"])
    return WorkOrder(**values)


def vars_of(obj: Any) -> dict[str, Any]:
    """A slotted dataclass's fields as a dict."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}
