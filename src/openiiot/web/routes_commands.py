"""Commands from the console: the device page's command forms, confirmation of dangerous ones, cancel.

The forms are built from the methods the device profile declares, with each parameter's type, bounds and
unit; the command service checks the values again (the form is a convenience, not the guard), so a value
out of range comes back as a 400 page naming the parameter and nothing is stored or sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from openiiot.domain.commands import MethodSpec, ParamType
from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    Session,
    checked_form,
    current_session,
    services_of,
)

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

PARAM_PREFIX = "p."


def form_params(method: MethodSpec, fields: Mapping[str, str]) -> dict[str, Any]:
    """The method's parameters read from the form, converted to their declared types."""
    params: dict[str, Any] = {}
    for spec in method.params:
        raw = fields.get(PARAM_PREFIX + spec.name, "").strip()
        if spec.type is ParamType.BOOLEAN:
            params[spec.name] = raw in ("1", "true", "on")
            continue
        if raw == "":
            continue  # a missing required parameter is the service's error, naming it
        if spec.type is ParamType.NUMBER:
            try:
                params[spec.name] = float(raw)
            except ValueError as exc:
                raise ValidationFailed(f"{spec.name} must be a number", field=f"params.{spec.name}") from exc
        elif spec.type is ParamType.INTEGER:
            try:
                params[spec.name] = int(raw)
            except ValueError as exc:
                raise ValidationFailed(
                    f"{spec.name} must be a whole number", field=f"params.{spec.name}"
                ) from exc
        else:
            params[spec.name] = raw
    return params


def _send(request: Request, session: Session, device_id: str, fields: Mapping[str, str]) -> None:
    services = services_of(request)
    device = services.devices.get(session.principal, device_id)
    profile = services.profiles.get(session.principal, device.profile_id)
    name = fields.get("method", "")
    method = profile.method(name)
    if method is None:
        raise ValidationFailed(f"the device profile has no method {name!r}", field="method")
    services.commands.request(session.principal, device_id, name, form_params(method, fields))


@router.post("/devices/{device_id}/commands")
async def send_command(request: Request, device_id: str) -> Response:
    """Send one of the profile's methods to the device, then back to the device page."""
    session = current_session(request)
    fields = await checked_form(request, session)
    await asyncio.to_thread(_send, request, session, device_id, fields)
    return RedirectResponse(f"{CONSOLE_PREFIX}/devices/{device_id}#commands", status_code=303)


def _act(request: Request, session: Session, command_id: str, action: str) -> str:
    commands = services_of(request).commands
    if action == "confirm":
        return commands.confirm(session.principal, command_id).device_id
    if action == "cancel":
        return commands.cancel(session.principal, command_id).device_id
    raise NotFound("action", action)


@router.post("/commands/{command_id}/{action}")
async def command_action(request: Request, command_id: str, action: str) -> Response:
    """Confirm a dangerous command (a second user) or cancel one that has not run yet."""
    session = current_session(request)
    await checked_form(request, session)
    device_id = await asyncio.to_thread(_act, request, session, command_id, action)
    return RedirectResponse(f"{CONSOLE_PREFIX}/devices/{device_id}#commands", status_code=303)
