"""Work orders in the console: the list with SLA and KPIs, one work order with its steps, and new ones.

Every step goes through the work-order service, which holds the state machine and the roles: the page only
offers the steps the state allows and the user's role may take, and a step the service still refuses
(someone else moved the work order meanwhile) shows its reason as a 409 page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.domain.model import Role
from openiiot.domain.workorders import WorkOrder, WorkOrderState
from openiiot.web.fleet import device_names
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    Session,
    checked_form,
    clock_of,
    current_session,
    render,
    services_of,
)
from openiiot.web.query import choice_param, int_param, text_param

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

STATES = tuple(s.value for s in WorkOrderState)
PRIORITIES = ("critical", "high", "medium", "low")
KPI_WINDOW_MS = 30 * 86_400_000
PAGE = 50
MAX_NOTE = 2000

#: step -> (the least role that may take it, the states it starts from)
STEPS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "assign": (Role.OPERATOR, ("open", "assigned")),
    "start": (Role.TECHNICIAN, ("assigned", "on_hold")),
    "hold": (Role.TECHNICIAN, ("in_progress",)),
    "resolve": (Role.TECHNICIAN, ("in_progress",)),
    "reopen": (Role.TECHNICIAN, ("resolved",)),
    "verify": (Role.OPERATOR, ("resolved",)),
    "close": (Role.OPERATOR, ("verified",)),
    "cancel": (Role.OPERATOR, ("open", "assigned", "in_progress", "on_hold")),
}


def offered_steps(order: WorkOrder, session: Session) -> list[str]:
    """The steps this user may take on this work order now (what a role may not do is not offered)."""
    state = order.state.value
    return [name for name, (role, starts) in STEPS.items() if state in starts and session.can(role)]


def _list(request: Request) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    state = choice_param(request, "state", (*STATES, "open-all", "all")) or "open-all"
    page = int_param(request, "page", 1, 1, 100_000)
    filters: dict[str, Any] = {"offset": (page - 1) * PAGE, "limit": PAGE}
    device = text_param(request, "device")
    if device is not None:
        filters["device_id"] = device
    if state == "open-all":
        orders = [o for o in services.workorders.list(session.principal, offset=0, limit=1000) if o.is_open]
        orders = orders[filters["offset"] : filters["offset"] + PAGE]
    elif state == "all":
        orders = services.workorders.list(session.principal, **filters)
    else:
        orders = services.workorders.list(session.principal, state=state, **filters)
    now_ms = clock_of(request).now_ms()
    kpis = services.workorders.kpis(session.principal, now_ms - KPI_WINDOW_MS, now_ms + 1)
    names = device_names(services, session.principal, (o.device_id for o in orders))
    context = {
        "orders": orders,
        "device_names": names,
        "state": state,
        "states": STATES,
        "priorities": PRIORITIES,
        "page": page,
        "page_size": PAGE,
        "kpis": kpis,
        "device": device or "",
        "can_create": session.can(Role.TECHNICIAN),
    }
    return context, session


@router.get("/workorders")
async def workorders(request: Request) -> Response:
    """Open (or any) work orders with their SLA due times, and the KPIs of the last 30 days."""
    context, session = await asyncio.to_thread(_list, request)
    return render(request, "workorders.html", context, session=session)


def _detail(request: Request, order_id: str) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    order = services.workorders.get(session.principal, order_id)
    alarm = services.alarms.get_alarm(session.principal, order.alarm_id) if order.alarm_id else None
    asset = services.assets.get(session.principal, order.asset_id) if order.asset_id else None
    context = {
        "order": order,
        "alarm": alarm,
        "asset": asset,
        "device_names": device_names(services, session.principal, [order.device_id]),
        "steps": offered_steps(order, session),
        "can_edit": session.can(Role.TECHNICIAN) and order.is_open,
    }
    return context, session


@router.get("/workorders/{order_id}")
async def workorder(request: Request, order_id: str) -> Response:
    """One work order: subject, due times, checklist, comments, parts, attachments and its history."""
    context, session = await asyncio.to_thread(_detail, request, order_id)
    return render(request, "workorder.html", context, session=session)


def _note(fields: Mapping[str, str], name: str = "note") -> str:
    return (fields.get(name) or "").strip()[:MAX_NOTE]


def _create(request: Request, session: Session, fields: Mapping[str, str]) -> WorkOrder:
    values: dict[str, Any] = {
        "title": (fields.get("title") or "").strip(),
        "description": _note(fields, "description"),
        "priority": fields.get("priority") or "medium",
    }
    for name in ("alarm_id", "device_id"):
        if fields.get(name):
            values[name] = fields[name]
    if values["priority"] not in PRIORITIES:
        raise ValidationFailed("unknown priority", field="priority")
    if not values["title"] and "alarm_id" in values:
        alarm = services_of(request).alarms.get_alarm(session.principal, values["alarm_id"])
        values["title"] = alarm.alarm_type
    return services_of(request).workorders.create(session.principal, values)


@router.post("/workorders")
async def create_workorder(request: Request) -> Response:
    """Open a work order by hand or from an alarm, then show it."""
    session = current_session(request)
    fields = await checked_form(request, session)
    order = await asyncio.to_thread(_create, request, session, fields)
    return RedirectResponse(f"{CONSOLE_PREFIX}/workorders/{order.id}", status_code=303)


def _act(request: Request, session: Session, order_id: str, action: str, fields: Mapping[str, str]) -> None:
    orders = services_of(request).workorders
    principal = session.principal
    if action == "assign":
        assignee = (fields.get("assignee") or "").strip() or principal.username
        orders.assign(principal, order_id, assignee)
    elif action == "start":
        orders.start(principal, order_id)
    elif action == "hold":
        orders.hold(principal, order_id, _note(fields))
    elif action == "resolve":
        orders.resolve(principal, order_id, _note(fields))
    elif action == "reopen":
        orders.reopen(principal, order_id, _note(fields) or "the fix did not hold")
    elif action == "verify":
        orders.verify(principal, order_id, _note(fields))
    elif action == "close":
        orders.close(principal, order_id)
    elif action == "cancel":
        orders.cancel(principal, order_id, _note(fields))
    elif action == "comment":
        text = _note(fields, "comment")
        if not text:
            raise ValidationFailed("comment must not be empty", field="comment")
        orders.comment(principal, order_id, text)
    elif action == "check":
        index = fields.get("index", "")
        if not index.isdigit():
            raise ValidationFailed("index must be a whole number", field="index")
        orders.check_item(principal, order_id, int(index), fields.get("done") == "1")
    elif action == "add-item":
        text = _note(fields, "text")
        if not text:
            raise ValidationFailed("the checklist item needs a text", field="text")
        orders.add_checklist_item(principal, order_id, text)
    else:
        raise NotFound("action", action)


@router.post("/workorders/{order_id}/{action}")
async def workorder_action(request: Request, order_id: str, action: str) -> Response:
    """A step of the work order (assign, start, hold, resolve, reopen, verify, close, cancel) or an edit."""
    session = current_session(request)
    fields = await checked_form(request, session)
    await asyncio.to_thread(_act, request, session, order_id, action, fields)
    return RedirectResponse(f"{CONSOLE_PREFIX}/workorders/{order_id}", status_code=303)
