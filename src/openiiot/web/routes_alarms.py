"""The alarms page: a live list with filters, the operator's actions, and ISA-18.2 KPIs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.domain.model import Role
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

SEVERITIES = ("critical", "major", "minor", "warning")
STATES = ("active", "cleared", "all")
ACTIONS = ("acknowledge", "clear", "reset", "shelve", "unshelve", "comment")
SHELVE_HOURS = (1, 8, 24)
KPI_WINDOW_MS = 7 * 86_400_000
PAGE = 100
STREAM_POLL_S = 2.0
STREAM_MAX_S = 3600


def _filters(request: Request) -> dict[str, Any]:
    state = choice_param(request, "state", STATES) or "active"
    return {
        "state": state,
        "severity": choice_param(request, "severity", SEVERITIES),
        "device": text_param(request, "device"),
        "page": int_param(request, "page", 1, 1, 100_000),
    }


def _alarm_list(request: Request, session: Session) -> dict[str, Any]:
    services = services_of(request)
    f = _filters(request)
    active = {"active": True, "cleared": False, "all": None}[f["state"]]
    alarms = services.alarms.list_alarms(
        session.principal,
        active=active,
        severity=f["severity"],
        device_id=f["device"],
        offset=(f["page"] - 1) * PAGE,
        limit=PAGE,
    )
    names = device_names(services, session.principal, (alarm.originator_id for alarm in alarms))
    return {
        "alarms": alarms,
        "device_names": names,
        "filters": f,
        "severities": SEVERITIES,
        "states": STATES,
        "shelve_hours": SHELVE_HOURS,
        "can_act": session.can(Role.OPERATOR),
        "can_open_workorder": session.can(Role.TECHNICIAN),
        "page_size": PAGE,
    }


def _alarms_page(request: Request) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    context = _alarm_list(request, session)
    now_ms = clock_of(request).now_ms()
    context["kpis"] = services_of(request).alarms.kpis(session.principal, now_ms - KPI_WINDOW_MS, now_ms + 1)
    return context, session


@router.get("/alarms")
async def alarms_page(request: Request) -> Response:
    """The alarm list (or, for htmx, only its table) with KPIs over the last 7 days."""
    if request.headers.get("hx-target") == "alarm-table":
        session = current_session(request)
        context = await asyncio.to_thread(_alarm_list, request, session)
        return render(request, "alarm_table.html", context, session=session)
    context, session = await asyncio.to_thread(_alarms_page, request)
    return render(request, "alarms.html", context, session=session)


def _act(request: Request, session: Session, alarm_id: str, action: str, fields: dict[str, str]) -> None:
    alarms = services_of(request).alarms
    principal = session.principal
    comment = (fields.get("comment") or "").strip()[:1000] or None
    if action == "acknowledge":
        alarms.acknowledge(principal, alarm_id, comment)
    elif action == "clear":
        alarms.clear(principal, alarm_id, comment)
    elif action == "reset":
        alarms.reset(principal, alarm_id, comment)
    elif action == "unshelve":
        alarms.unshelve(principal, alarm_id, comment)
    elif action == "shelve":
        try:
            hours = int(fields.get("hours", ""))
        except ValueError as exc:
            raise ValidationFailed("choose how long to shelve", field="hours") from exc
        if hours not in SHELVE_HOURS:
            raise ValidationFailed("choose how long to shelve", field="hours")
        alarms.shelve(principal, alarm_id, clock_of(request).now_ms() + hours * 3_600_000, comment)
    elif action == "comment":
        if comment is None:
            raise ValidationFailed("comment must not be empty", field="comment")
        alarms.comment(principal, alarm_id, comment)
    else:
        raise NotFound("action", action)


@router.post("/alarms/{alarm_id}/{action}")
async def alarm_action(request: Request, alarm_id: str, action: str) -> Response:
    """Acknowledge, clear, reset, shelve, unshelve or comment; the form's CSRF token is checked first."""
    session = current_session(request)
    fields = dict(await checked_form(request, session))
    await asyncio.to_thread(_act, request, session, alarm_id, action, fields)
    if request.headers.get("hx-request"):
        context = await asyncio.to_thread(_alarm_list, request, session)
        return render(request, "alarm_table.html", context, session=session)
    back = fields.get("back") or f"{CONSOLE_PREFIX}/alarms"
    if not back.startswith(CONSOLE_PREFIX + "/") or back.startswith("//"):
        back = f"{CONSOLE_PREFIX}/alarms"
    return RedirectResponse(back, status_code=303)


@router.get("/alarms/stream")
async def alarm_stream(request: Request) -> Response:
    """Server-sent events: a `changed` event whenever the open alarms change, so the list reloads."""
    session = current_session(request)
    services = services_of(request)

    def signature() -> str:
        found = services.alarms.list_alarms(session.principal, limit=200)
        return json.dumps([(a.id, a.status, a.shelved_until_ms, len(a.history)) for a in found])

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_MAX_S
        last = await asyncio.to_thread(signature)
        yield "retry: 3000\n\n"
        while loop.time() < deadline:
            await asyncio.sleep(STREAM_POLL_S)
            if await request.is_disconnected():
                return
            now = await asyncio.to_thread(signature)
            if now != last:
                last = now
                yield "event: changed\ndata: {}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})
