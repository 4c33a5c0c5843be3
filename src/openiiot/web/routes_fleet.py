"""Fleet overview (counts and the device table) and the site and asset tree."""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from openiiot.domain.connectivity import Status
from openiiot.domain.model import Asset, Device
from openiiot.web.fleet import STATUSES, device_rows, fleet_summary
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    Session,
    current_session,
    render,
    services_of,
)
from openiiot.web.query import choice_param, int_param, text_param

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZES = (25, 50, 100)
MAX_TREE_ASSETS = 1000
MAX_ASSET_DEVICES = 200
#: the console's status word -> the connectivity statuses it covers
_STATUS_FILTER = {
    "connected": (Status.ACTIVE,),
    "inactive": (Status.CONNECTED_INACTIVE, Status.DISCONNECTED),
    "never-seen": (Status.NEVER_SEEN,),
}


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    """The console starts at the fleet."""
    return RedirectResponse(f"{CONSOLE_PREFIX}/fleet", status_code=303)


def _fleet_page(request: Request) -> tuple[dict[str, object], Session]:
    session = current_session(request)
    services = services_of(request)
    search = text_param(request, "q")
    profile_id = text_param(request, "profile")
    status = choice_param(request, "status", STATUSES)
    size = int_param(request, "size", 50, 1, 100)
    page = int_param(request, "page", 1, 1, 1_000_000)
    offset = (page - 1) * size
    principal = session.principal
    ids: set[str] | None = None
    if status is not None:
        # connectivity lives in the connectivity service, not in SQL: the ids in that status narrow the search
        ids = set()
        for raw in _STATUS_FILTER[status]:
            ids.update(services.connectivity.device_ids_with_status(principal, raw, limit=10_000_000))
    found = services.devices.search(
        principal, search=search, profile_id=profile_id, ids=ids, offset=offset, limit=size
    )
    devices, total = found.items, found.total
    context: dict[str, object] = {
        "rows": device_rows(services, principal, devices),
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / size)),
        "size": size,
        "q": search or "",
        "status": status or "",
        "profile": profile_id or "",
        "profiles": services.profiles.list(principal, limit=1000),
        "statuses": STATUSES,
    }
    return context, session


@router.get("/fleet")
async def fleet(request: Request) -> Response:
    """Counts by status and a searchable, filterable, server-paginated device table."""
    context, session = await asyncio.to_thread(_fleet_page, request)
    partial = request.headers.get("hx-target") == "device-table"
    return render(request, "fleet_table.html" if partial else "fleet.html", context, session=session)


@router.get("/fleet/summary")
async def fleet_counts(request: Request) -> Response:
    """The status counts by tenant, site and region (loaded by the fleet page after the table)."""
    session = current_session(request)
    summary = await asyncio.to_thread(fleet_summary, services_of(request), session.principal)
    return render(request, "fleet_summary.html", {"summary": summary}, session=session)


def _tree(request: Request) -> tuple[dict[str, object], Session]:
    session = current_session(request)
    services = services_of(request)
    principal = session.principal
    sites = services.sites.list(principal, limit=1000)
    site_filter = text_param(request, "site")
    trees = []
    for site in sites:
        if site_filter is not None and site.id != site_filter:
            continue
        assets = services.assets.list(principal, site_id=site.id, limit=MAX_TREE_ASSETS)
        children: dict[str | None, list[Asset]] = {}
        for asset in assets:
            children.setdefault(asset.parent_id, []).append(asset)
        devices: dict[str, list[Device]] = {}
        alarms: dict[str, int] = {}
        for asset in assets:
            found = services.devices.search(principal, asset_id=asset.id, limit=MAX_ASSET_DEVICES).items
            devices[asset.id] = found
            for device in found:
                alarms[device.id] = len(
                    services.alarms.list_alarms(principal, active=True, device_id=device.id, limit=100)
                )
        trees.append({"site": site, "children": children, "devices": devices, "alarms": alarms})
    return {"trees": trees}, session


@router.get("/sites")
async def sites(request: Request) -> Response:
    """Sites and their asset trees, with each asset's devices and open alarms."""
    context, session = await asyncio.to_thread(_tree, request)
    return render(request, "sites.html", context, session=session)
