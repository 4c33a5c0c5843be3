"""Work orders: open (by hand or from an alarm), assign, work, resolve, verify, close — and the KPIs.

Every change is one unit of work with its audit entry. A work order on an alarm is verified only when its
alarm is no longer active; `verify_due` (a scheduled job) verifies resolved ones automatically once the
alarm has been clear for the order's `verify_after_s`. Attachments are stored through the attachment
store (files in the data directory), their metadata on the work order.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from openiiot.analytics import workorder_kpis
from openiiot.domain.alarms import parse_rule
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from openiiot.domain.model import Principal, Role
from openiiot.domain.notifications import AlarmEvent, Transition
from openiiot.domain.workorders import (
    Attachment,
    ChecklistItem,
    Comment,
    PartUsed,
    Priority,
    Step,
    WorkOrder,
    WorkOrderState,
    sla_due,
)
from openiiot.services.audit import record
from openiiot.services.authorization import require_reader, require_role, scope_of, target_tenant
from openiiot.services.ports import AttachmentStore, Clock, UnitOfWork, UnitOfWorkFactory

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain", "text/csv", "application/zip"}
)
PLATFORM = "platform"
_PAGE = 1000


class WorkOrderService:
    """Tenant-scoped work orders."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, attachments: AttachmentStore | None) -> None:
        self._uow = uow
        self._clock = clock
        self._attachments = attachments

    # --- open and read ---------------------------------------------------------------------------------

    def create(
        self, principal: Principal, values: Mapping[str, Any], tenant_id: str | None = None
    ) -> WorkOrder:
        """Open a work order, on its own or on an alarm (which names the device and so the asset)."""
        require_role(principal, Role.TECHNICIAN, "opening work orders")
        now_ms = self._clock.now_ms()
        priority = _priority(values.get("priority", "medium"))
        with self._uow() as uow:
            owner, device_id, asset_id, alarm_id = self._subject(uow, principal, values, tenant_id)
            respond_due, resolve_due = sla_due(priority, now_ms)
            checklist = tuple(ChecklistItem(str(text)) for text in values.get("checklist", ()))
            order = WorkOrder(
                id=new_id(),
                tenant_id=owner,
                title=str(values.get("title", "")),
                description=str(values.get("description", "")),
                priority=priority,
                state=WorkOrderState.OPEN,
                created_by=principal.username,
                created_ms=now_ms,
                respond_due_ms=respond_due,
                resolve_due_ms=resolve_due,
                asset_id=asset_id,
                device_id=device_id,
                alarm_id=alarm_id,
                verify_after_s=int(values.get("verify_after_s", 600)),
                checklist=checklist,
                history=(Step(now_ms, WorkOrderState.OPEN, principal.username),),
            )
            uow.workorders.add(order)
            details = {"title": order.title, "priority": priority.value, "alarm_id": alarm_id}
            record(uow, self._clock, principal, "work_order.open", "work_order", order.id,
                   tenant_id=owner, details=details)  # fmt: skip
            uow.commit()
        return order

    def get(self, principal: Principal, order_id: str) -> WorkOrder:
        """One work order of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.workorders.get(scope_of(principal), order_id)

    def list(self, principal: Principal, **filters: Any) -> builtins.list[WorkOrder]:
        """Work orders of the caller's tenant, newest first; filters: state, assignee, asset_id, device_id,
        alarm_id, offset, limit."""
        require_reader(principal)
        state = filters.pop("state", None)
        with self._uow() as uow:
            return uow.workorders.list(
                scope_of(principal), state=None if state is None else WorkOrderState(state), **filters
            )

    # --- the life cycle --------------------------------------------------------------------------------

    def assign(self, principal: Principal, order_id: str, assignee: str) -> WorkOrder:
        """Give the work order to a user of the tenant (operators and up)."""
        require_role(principal, Role.OPERATOR, "assigning work orders")
        with self._uow() as uow:
            order = uow.workorders.get(scope_of(principal), order_id)
            try:
                user = uow.users.get_by_username(assignee)
            except NotFound as exc:
                raise ValidationFailed(f"no user {assignee!r}", field="assignee") from exc
            if user.tenant_id != order.tenant_id or user.disabled:
                raise ValidationFailed(
                    f"{assignee!r} cannot work on this tenant's work orders", field="assignee"
                )
            changed = order.to(WorkOrderState.ASSIGNED, self._clock.now_ms(), principal.username,
                               f"assigned to {assignee}", assignee=assignee)  # fmt: skip
            return self._save(uow, principal, changed, "assign", {"assignee": assignee})

    def start(self, principal: Principal, order_id: str) -> WorkOrder:
        """Work begins (or resumes after a hold)."""
        return self._step(principal, order_id, WorkOrderState.IN_PROGRESS, "start")

    def hold(self, principal: Principal, order_id: str, reason: str) -> WorkOrder:
        """Waiting for parts, access or the customer."""
        if not reason.strip():
            raise ValidationFailed("say why the work is on hold", field="reason")
        return self._step(principal, order_id, WorkOrderState.ON_HOLD, "hold", reason)

    def resolve(self, principal: Principal, order_id: str, note: str = "") -> WorkOrder:
        """The fix is done; it waits for verification."""
        return self._step(principal, order_id, WorkOrderState.RESOLVED, "resolve", note)

    def reopen(self, principal: Principal, order_id: str, reason: str) -> WorkOrder:
        """The fix did not hold."""
        return self._step(principal, order_id, WorkOrderState.IN_PROGRESS, "reopen", reason)

    def verify(self, principal: Principal, order_id: str, note: str = "") -> WorkOrder:
        """Confirm the fix (operators and up); refused while the work order's alarm is still active."""
        require_role(principal, Role.OPERATOR, "verifying work orders")
        with self._uow() as uow:
            order = uow.workorders.get(scope_of(principal), order_id)
            if order.alarm_id is not None:
                alarm = uow.alarms.get_alarm(order.tenant_id, order.alarm_id)
                if alarm.active:
                    raise Conflict("the alarm of this work order is still active; it cannot be verified yet",
                                   field="state")  # fmt: skip
            changed = order.to(WorkOrderState.VERIFIED, self._clock.now_ms(), principal.username, note)
            return self._save(uow, principal, changed, "verify", {"note": note} if note else {})

    def close(self, principal: Principal, order_id: str) -> WorkOrder:
        """Close a verified work order (operators and up)."""
        require_role(principal, Role.OPERATOR, "closing work orders")
        return self._step(principal, order_id, WorkOrderState.CLOSED, "close")

    def cancel(self, principal: Principal, order_id: str, reason: str) -> WorkOrder:
        """Cancel a work order that is not resolved (operators and up)."""
        require_role(principal, Role.OPERATOR, "cancelling work orders")
        if not reason.strip():
            raise ValidationFailed("say why the work order is cancelled", field="reason")
        return self._step(principal, order_id, WorkOrderState.CANCELLED, "cancel", reason)

    def open_for_alarms(self, events: Sequence[AlarmEvent]) -> int:
        """Alarm-event listener: open a work order for each alarm raised by a rule that asks for one."""
        opened = 0
        for event in events:
            if event.transition is not Transition.RAISED:
                continue
            rule_id = str(event.details.get("rule_id", ""))
            with self._uow() as uow:
                try:
                    spec = parse_rule(uow.alarms.get_rule(event.tenant_id, rule_id).rule).work_order
                except (NotFound, ValidationFailed):
                    continue
                if spec is None or uow.workorders.list(event.tenant_id, alarm_id=event.alarm_id, limit=1):
                    continue
            system = Principal(
                user_id=PLATFORM, username=PLATFORM, role=Role.OPERATOR, tenant_id=event.tenant_id
            )
            values = {
                "title": f"{event.alarm_type} on {event.originator_name}"[:200],
                "description": f"Opened by the alarm rule when the alarm was raised ({event.severity}).",
                "priority": spec.priority,
                "alarm_id": event.alarm_id,
                "verify_after_s": spec.verify_after_s,
            }
            self.create(system, values)
            opened += 1
        return opened

    def verify_due(self) -> int:
        """Verify resolved work orders whose alarm has been clear for `verify_after_s`; returns how many."""
        now_ms = self._clock.now_ms()
        verified = 0
        with self._uow() as uow:
            resolved = uow.workorders.list(None, state=WorkOrderState.RESOLVED, limit=_PAGE)
        for order in resolved:
            if order.alarm_id is None:
                continue  # only the alarm can prove a fix without a person
            with self._uow() as uow:
                try:
                    alarm = uow.alarms.get_alarm(order.tenant_id, order.alarm_id)
                except NotFound:
                    continue
                if alarm.active or alarm.cleared_ms is None:
                    continue
                normal_since = max(alarm.cleared_ms, order.resolved_ms or 0)
                if now_ms < normal_since + order.verify_after_s * 1000:
                    continue
                current = uow.workorders.get(None, order.id)
                if current.state is not WorkOrderState.RESOLVED:
                    continue
                note = f"alarm clear for {order.verify_after_s} s after the fix"
                uow.workorders.update(current.to(WorkOrderState.VERIFIED, now_ms, PLATFORM, note))
                uow.commit()
                verified += 1
        return verified

    # --- details ---------------------------------------------------------------------------------------

    def comment(self, principal: Principal, order_id: str, text: str) -> WorkOrder:
        """Add a comment."""
        require_role(principal, Role.TECHNICIAN, "commenting on work orders")
        if not text.strip() or len(text) > 10_000:
            raise ValidationFailed("a comment has 1-10,000 characters", field="text")
        return self._change(principal, order_id, "comment", lambda o, now: replace(
            o, comments=(*o.comments, Comment(now, principal.username, text))), {})  # fmt: skip

    def add_checklist_item(self, principal: Principal, order_id: str, text: str) -> WorkOrder:
        """Add a step to the checklist."""
        require_role(principal, Role.TECHNICIAN, "changing work orders")
        if not text.strip() or len(text) > 500:
            raise ValidationFailed("a checklist item has 1-500 characters", field="text")
        return self._change(principal, order_id, "checklist_add", lambda o, _now: replace(
            o, checklist=(*o.checklist, ChecklistItem(text))), {"text": text})  # fmt: skip

    def check_item(self, principal: Principal, order_id: str, index: int, done: bool) -> WorkOrder:
        """Tick (or untick) a checklist item."""
        require_role(principal, Role.TECHNICIAN, "changing work orders")

        def tick(order: WorkOrder, now: int) -> WorkOrder:
            if not 0 <= index < len(order.checklist):
                raise ValidationFailed(f"there is no checklist item {index}", field="index")
            items = list(order.checklist)
            items[index] = ChecklistItem(items[index].text, done, principal.username if done else None,
                                         now if done else None)  # fmt: skip
            return replace(order, checklist=tuple(items))

        return self._change(principal, order_id, "checklist_check", tick, {"index": index, "done": done})

    def add_part(
        self, principal: Principal, order_id: str, part_no: str, description: str, quantity: float
    ) -> WorkOrder:
        """Record a spare part used."""
        require_role(principal, Role.TECHNICIAN, "changing work orders")
        if not part_no.strip() or len(part_no) > 100:
            raise ValidationFailed("part_no has 1-100 characters", field="part_no")
        if not 0 < quantity <= 1_000_000:
            raise ValidationFailed("quantity must be positive", field="quantity")
        return self._change(principal, order_id, "part_add", lambda o, now: replace(
            o, parts=(*o.parts, PartUsed(part_no, description, quantity, now, principal.username))),
            {"part_no": part_no, "quantity": quantity})  # fmt: skip

    def attach(
        self, principal: Principal, order_id: str, filename: str, content_type: str, data: bytes
    ) -> WorkOrder:
        """Store a file (photo, report, PDF) with the work order."""
        require_role(principal, Role.TECHNICIAN, "attaching files")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise ValidationFailed(
                f"an attachment is at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB", field="file"
            )
        if not data:
            raise ValidationFailed("the file is empty", field="file")
        kind = content_type.split(";")[0].strip().lower()
        if kind not in ATTACHMENT_TYPES:
            accepted = ", ".join(sorted(ATTACHMENT_TYPES))
            raise ValidationFailed(f"files of type {kind!r} are not accepted; use {accepted}", field="file")
        name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
        self.get(principal, order_id)  # NotFound before anything is written
        if self._attachments is None:
            raise ConfigurationError("this platform process stores no attachments")
        attachment_id = new_id()
        self._attachments.put(attachment_id, data)
        meta = {"filename": name, "size_bytes": len(data)}

        def add(order: WorkOrder, now: int) -> WorkOrder:
            item = Attachment(attachment_id, name, kind, len(data), now, principal.username)
            return replace(order, attachments=(*order.attachments, item))

        return self._change(principal, order_id, "attach", add, meta)

    def attachment(self, principal: Principal, order_id: str, attachment_id: str) -> tuple[Attachment, bytes]:
        """An attachment's metadata and bytes."""
        order = self.get(principal, order_id)
        found = next((a for a in order.attachments if a.id == attachment_id), None)
        if found is None:
            raise NotFound("attachment", attachment_id)
        if self._attachments is None:
            raise ConfigurationError("this platform process stores no attachments")
        return found, self._attachments.get(attachment_id)

    def kpis(
        self, principal: Principal, from_ms: int, to_ms: int, group_by: str | None = None
    ) -> dict[str, Any]:
        """MTTA, MTTR, MTBF and SLA compliance of work orders opened in [from_ms, to_ms)."""
        require_reader(principal)
        if to_ms <= from_ms:
            raise ValidationFailed("to_ms must be after from_ms", field="to_ms")
        if group_by not in (None, "asset", "device_type", "tenant"):
            raise ValidationFailed("group_by must be asset, device_type or tenant", field="group_by")
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            orders: list[WorkOrder] = []
            while True:
                page = uow.workorders.list(scope_of(principal), offset=len(orders), limit=_PAGE)
                orders.extend(page)
                if len(page) < _PAGE:
                    break
            profile_of: dict[str, str] = {}
            if group_by == "device_type":
                for device_id in {o.device_id for o in orders if o.device_id}:
                    try:
                        device = uow.devices.get(None, device_id)
                        profile_of[device_id] = uow.profiles.get(None, device.profile_id).name
                    except NotFound:
                        continue
        result = workorder_kpis.kpis(orders, from_ms, to_ms, now_ms)
        if group_by == "asset":
            result["groups"] = workorder_kpis.grouped(orders, lambda o: o.asset_id, from_ms, to_ms, now_ms)
        elif group_by == "tenant":
            result["groups"] = workorder_kpis.grouped(orders, lambda o: o.tenant_id, from_ms, to_ms, now_ms)
        elif group_by == "device_type":
            result["groups"] = workorder_kpis.grouped(
                orders, lambda o: profile_of.get(o.device_id or ""), from_ms, to_ms, now_ms
            )
        return result

    # --- internals -------------------------------------------------------------------------------------

    def _subject(
        self, uow: UnitOfWork, principal: Principal, values: Mapping[str, Any], tenant_id: str | None
    ) -> tuple[str, str | None, str | None, str | None]:
        alarm_id, device_id, asset_id = (
            values.get("alarm_id"),
            values.get("device_id"),
            values.get("asset_id"),
        )
        if alarm_id is not None:
            alarm = uow.alarms.get_alarm(scope_of(principal), str(alarm_id))
            owner, device_id = alarm.tenant_id, alarm.originator_id
        else:
            owner = target_tenant(principal, tenant_id)
        if device_id is not None:
            device = uow.devices.get(owner, str(device_id))
            asset_id = asset_id or device.asset_id
        if asset_id is not None:
            uow.assets.get(owner, str(asset_id))
        return owner, device_id, asset_id, alarm_id

    def _step(
        self, principal: Principal, order_id: str, state: WorkOrderState, verb: str, note: str = ""
    ) -> WorkOrder:
        require_role(principal, Role.TECHNICIAN, "working on work orders")
        with self._uow() as uow:
            order = uow.workorders.get(scope_of(principal), order_id)
            changed = order.to(state, self._clock.now_ms(), principal.username, note)
            return self._save(uow, principal, changed, verb, {"note": note} if note else {})

    def _change(
        self, principal: Principal, order_id: str, verb: str, change: Any, details: dict[str, Any]
    ) -> WorkOrder:
        with self._uow() as uow:
            order = uow.workorders.get(scope_of(principal), order_id)
            if order.state in (WorkOrderState.CLOSED, WorkOrderState.CANCELLED):
                raise Conflict(f"the work order is {order.state.value}", field="state")
            return self._save(uow, principal, change(order, self._clock.now_ms()), verb, details)

    def _save(
        self, uow: UnitOfWork, principal: Principal, order: WorkOrder, verb: str, details: dict[str, Any]
    ) -> WorkOrder:
        uow.workorders.update(order)
        record(uow, self._clock, principal, f"work_order.{verb}", "work_order", order.id,
               tenant_id=order.tenant_id, details=details)  # fmt: skip
        uow.commit()
        return order


def _priority(value: object) -> Priority:
    try:
        return Priority(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            f"priority must be one of {', '.join(p.value for p in Priority)}", field="priority"
        ) from exc
