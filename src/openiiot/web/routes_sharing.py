"""Sharing grants in the console: what this tenant shares with partners, what partners share with it.

A tenant admin grants a partner tenant (the equipment maker) access to some devices, for some keys and
permissions, until a date, and can revoke the grant at once; the grant service checks everything again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.grants import Permission
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

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

PERMISSIONS = tuple(p.value for p in Permission)
MAX_DAYS = 365
MAX_NAMES = 500


def _page(request: Request) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    given = services.grants.given(session.principal) if session.can(Role.OPERATOR) else []
    received = services.grants.received(session.principal)
    names = device_names(services, session.principal, (d for grant in given for d in grant.device_ids[:20]))
    context = {
        "given": given,
        "received": received,
        "device_names": names,
        "permissions": PERMISSIONS,
        "can_grant": session.can(Role.TENANT_ADMIN) and session.principal.tenant_id is not None,
        "max_days": MAX_DAYS,
    }
    return context, session


@router.get("/sharing")
async def sharing(request: Request) -> Response:
    """Grants given and received."""
    context, session = await asyncio.to_thread(_page, request)
    return render(request, "sharing.html", context, session=session)


def _device_ids(request: Request, session: Session, text: str) -> list[str]:
    names = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    if not names:
        raise ValidationFailed("name at least one device", field="devices")
    if len(names) > MAX_NAMES:
        raise ValidationFailed(f"at most {MAX_NAMES} devices per grant", field="devices")
    services = services_of(request)
    ids = []
    for name in names:
        found = [
            d
            for d in services.devices.search(session.principal, search=name, limit=50).items
            if d.name == name
        ]
        if not found:
            raise ValidationFailed(f"no device named {name!r}", field="devices")
        ids.append(found[0].id)
    return ids


def _create(request: Request, session: Session, fields: Mapping[str, str], permissions: list[str]) -> None:
    days_text = fields.get("days", "").strip()
    if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
        raise ValidationFailed(f"days must be a whole number from 1 to {MAX_DAYS}", field="days")
    keys = [k.strip() for k in (fields.get("keys") or "*").split(",") if k.strip()] or ["*"]
    values = {
        "grantee_tenant_id": (fields.get("grantee_tenant_id") or "").strip(),
        "device_ids": _device_ids(request, session, fields.get("devices", "")),
        "telemetry_keys": keys,
        "permissions": permissions or [Permission.TELEMETRY.value],
        "expires_ms": clock_of(request).now_ms() + int(days_text) * 86_400_000,
        "note": (fields.get("note") or "").strip(),
    }
    services_of(request).grants.create(session.principal, values)


@router.post("/sharing")
async def create_grant(request: Request) -> Response:
    """Grant a partner tenant access to some devices."""
    session = current_session(request)
    fields = await checked_form(request, session)
    form = await request.form()
    permissions = [str(v) for v in form.getlist("permissions") if str(v) in PERMISSIONS]
    await asyncio.to_thread(_create, request, session, fields, permissions)
    return RedirectResponse(f"{CONSOLE_PREFIX}/sharing", status_code=303)


@router.post("/sharing/{grant_id}/revoke")
async def revoke_grant(request: Request, grant_id: str) -> Response:
    """End a grant now."""
    session = current_session(request)
    await checked_form(request, session)
    await asyncio.to_thread(services_of(request).grants.revoke, session.principal, grant_id)
    return RedirectResponse(f"{CONSOLE_PREFIX}/sharing", status_code=303)
