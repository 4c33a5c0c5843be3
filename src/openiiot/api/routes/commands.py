"""Commands (RPC) to devices: request with an idempotency key, confirm, cancel, follow (docs/commands.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, InputModel, Page
from openiiot.domain.commands import Command, CommandState, command_to_dict

router = APIRouter(tags=["commands"], responses=PROBLEM_RESPONSES)


class CommandRequest(InputModel):
    """A call of a method the device's profile declares."""

    method: str = Field(min_length=1, max_length=64, examples=["set_pressure_setpoint"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"setpoint_bar": 6.8}])
    expires_in_s: int = Field(3600, ge=1, le=7 * 86400, description="give up if not delivered by then")
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200, description="the same key never creates a second command"
    )


class CommandStepPublic(BaseModel):
    """One line of a command's history."""

    ts_ms: int
    state: CommandState
    by: str
    note: str


class CommandPublic(BaseModel):
    """A command and where it stands."""

    id: str
    tenant_id: str
    device_id: str
    method: str
    params: dict[str, Any]
    two_way: bool
    dangerous: bool
    state: CommandState
    requested_by: str
    confirmed_by: str | None
    created_ms: int
    expires_ms: int
    timeout_s: int
    idempotency_key: str | None
    attempts: int
    max_attempts: int
    sent_ms: int | None
    completed_ms: int | None
    result: Any
    error: str | None
    history: list[CommandStepPublic]


def _public(command: Command) -> CommandPublic:
    return CommandPublic.model_validate(command_to_dict(command))


@router.post(
    "/devices/{device_id}/commands",
    response_model=CommandPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "a replay of an idempotency key: the existing command"}},
)
def request_command(
    device_id: str,
    body: CommandRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> CommandPublic:
    """Queue a command; it is sent at once when the device is connected, else when it connects.

    Dangerous methods wait in AWAITING_CONFIRMATION for another user's `POST /commands/{id}/confirm`.
    The idempotency key may come in the body or the `Idempotency-Key` header.
    """
    command, created = services.commands.request(
        principal,
        device_id,
        body.method,
        body.params,
        idempotency_key=body.idempotency_key or idempotency_key,
        expires_in_s=body.expires_in_s,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _public(command)


@router.get("/commands", response_model=Page[CommandPublic])
def list_commands(
    principal: PrincipalDep,
    services: ServicesDep,
    device_id: str | None = None,
    state: Annotated[CommandState | None, Query(description="only commands in this state")] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[CommandPublic]:
    """Commands of the caller's tenant, newest first."""
    found = services.commands.list(principal, device_id=device_id, state=state, offset=offset, limit=limit)
    return Page(items=[_public(c) for c in found], offset=offset, limit=limit)


@router.get("/commands/{command_id}", response_model=CommandPublic)
def get_command(command_id: str, principal: PrincipalDep, services: ServicesDep) -> CommandPublic:
    """One command with its history."""
    return _public(services.commands.get(principal, command_id))


@router.post("/commands/{command_id}/confirm", response_model=CommandPublic)
def confirm_command(command_id: str, principal: PrincipalDep, services: ServicesDep) -> CommandPublic:
    """Confirm a dangerous command (operators and up; never the user who requested it)."""
    return _public(services.commands.confirm(principal, command_id))


@router.post("/commands/{command_id}/cancel", response_model=CommandPublic)
def cancel_command(command_id: str, principal: PrincipalDep, services: ServicesDep) -> CommandPublic:
    """Cancel a command that has not been sent."""
    return _public(services.commands.cancel(principal, command_id))
