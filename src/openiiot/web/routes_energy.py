"""The energy page: a compressed-air station's KPIs, cost and carbon over a range (docs/energy.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response

from openiiot.domain.errors import NotFound
from openiiot.web.energy import cost_rows, finite, station_view, stations
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    Session,
    clock_of,
    current_session,
    render,
    services_of,
)
from openiiot.web.query import choice_param, text_param

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

RANGES_H = {"24h": 24, "7d": 168, "30d": 720}


def _page(request: Request) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    found = stations(services, session.principal)
    chosen_id = text_param(request, "asset")
    range_name = choice_param(request, "range", tuple(RANGES_H)) or "24h"
    context: dict[str, Any] = {"stations": found, "range": range_name, "ranges": RANGES_H, "view": None}
    if not found:
        return context, session
    station = next((s for s in found if s.asset.id == chosen_id), None) if chosen_id else found[0]
    if station is None:
        raise NotFound("station", chosen_id or "")
    end_ms = clock_of(request).now_ms()
    view = station_view(
        services, session.principal, station, end_ms - RANGES_H[range_name] * 3_600_000, end_ms
    )
    context.update(view=view, kpis=view.report.kpis, cost_rows=cost_rows(view.cost), finite=finite)
    return context, session


@router.get("/energy")
async def energy(request: Request) -> Response:
    """Station KPIs: specific power, unloaded energy, pressure band, control gap, cost by tariff period."""
    context, session = await asyncio.to_thread(_page, request)
    return render(request, "energy.html", context, session=session)
