"""The device page: latest values, live charts over server-sent events, history, attributes, alarms."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import AttributeScope, KeyKind, Role
from openiiot.domain.telemetry import LatestValue
from openiiot.web.fleet import console_status
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    Session,
    clock_of,
    current_session,
    render,
    services_of,
)
from openiiot.web.history import bucket_seconds, interval_text, minmax_points
from openiiot.web.query import int_param, text_param

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

#: the history ranges offered by the chart, in seconds
RANGES_S = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2_592_000}
LIVE_POLL_S = 1.0
LIVE_MAX_S = 3600  # a live stream closes after an hour; the browser reconnects on its own
MAX_HISTORY_SPAN_MS = 400 * 86_400_000


def _device_page(request: Request, device_id: str) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    principal = session.principal
    device = services.devices.get(principal, device_id)
    profile = services.profiles.get(principal, device.profile_id)
    latest = services.telemetry.latest(principal, device.id)
    specs = {spec.key: spec for spec in profile.keys}
    keys = sorted(set(specs) | set(latest))
    values = [
        {
            "key": key,
            "spec": specs.get(key),
            "latest": latest.get(key),
            "numeric": (specs[key].kind is not KeyKind.TEXT)
            if key in specs
            else (latest[key].value is not None),
        }
        for key in keys
    ]
    asset = services.assets.get(principal, device.asset_id) if device.asset_id else None
    site = services.sites.get(principal, asset.site_id) if asset else None
    attributes = {
        scope.value: services.attributes.get(principal, device.id, scope) for scope in AttributeScope
    }
    alarms = services.alarms.list_alarms(principal, device_id=device.id, limit=50)
    connectivity = services.connectivity.get(principal, device.id)
    events = services.connectivity.events(principal, device.id, limit=20)
    commands = services.commands.list(principal, device_id=device.id, limit=20)
    context = {
        "device": device,
        "profile": profile,
        "values": values,
        "asset": asset,
        "site": site,
        "attributes": attributes,
        "alarms": alarms,
        "connectivity": connectivity,
        "status": console_status(str(connectivity["status"])),
        "events": events,
        "ranges": RANGES_S,
        "commands": commands,
        "can_command": session.can(Role.TECHNICIAN),
        "can_confirm": session.can(Role.OPERATOR),
    }
    return context, session


@router.get("/devices/{device_id}")
async def device_page(request: Request, device_id: str) -> Response:
    """Everything about one device."""
    context, session = await asyncio.to_thread(_device_page, request, device_id)
    return render(request, "device.html", context, session=session)


def _history(request: Request, device_id: str) -> dict[str, Any]:
    session = current_session(request)
    services = services_of(request)
    key = text_param(request, "key")
    if key is None:
        raise ValidationFailed("name the key", field="key")
    now_ms = clock_of(request).now_ms()
    range_name = text_param(request, "range")
    if range_name is not None:
        if range_name not in RANGES_S:
            raise ValidationFailed("unknown range", field="range")
        end_ms = now_ms + 1
        start_ms = end_ms - RANGES_S[range_name] * 1000
    else:
        end_ms = int_param(request, "end", now_ms + 1, 0, 2**53)
        start_ms = int_param(request, "start", end_ms - 3_600_000, 0, 2**53)
    if not 0 < end_ms - start_ms <= MAX_HISTORY_SPAN_MS:
        raise ValidationFailed("the range must be positive and at most 400 days", field="start")
    step_s = bucket_seconds(end_ms - start_ms)
    rows = services.telemetry.aggregate(
        session.principal,
        device_id,
        keys=[key],
        interval=interval_text(step_s),
        aggregates=["min", "max"],
        start=str(start_ms),
        end=str(end_ms),
    )
    points = minmax_points(rows.get(key, []), step_s)
    return {"key": key, "start_ms": start_ms, "end_ms": end_ms, "bucket_s": step_s, "points": points}


@router.get("/devices/{device_id}/history")
async def history(request: Request, device_id: str) -> Response:
    """Min/max per bucket over any range, at most ~2,000 points per series."""
    body = await asyncio.to_thread(_history, request, device_id)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _latest_payload(latest: dict[str, LatestValue]) -> dict[str, Any]:
    return {k: {"ts": v.ts_ms, "value": v.value, "text": v.text} for k, v in latest.items()}


@router.get("/devices/{device_id}/live")
async def live(request: Request, device_id: str) -> Response:
    """Server-sent events: the device's new latest values, as they are committed."""
    session = current_session(request)
    services = services_of(request)
    services.devices.get(session.principal, device_id)  # 404 before the stream opens
    once = request.query_params.get("once") == "1"

    async def events() -> AsyncIterator[str]:
        sent: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVE_MAX_S
        yield "retry: 3000\n\n"
        while loop.time() < deadline:
            latest = await asyncio.to_thread(services.telemetry.latest, session.principal, device_id)
            fresh = {k: v for k, v in latest.items() if sent.get(k) != v.ts_ms}
            if fresh:
                sent.update({k: v.ts_ms for k, v in fresh.items()})
                yield f"event: values\ndata: {json.dumps(_latest_payload(fresh))}\n\n"
            if once or await request.is_disconnected():
                return
            await asyncio.sleep(LIVE_POLL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
