"""Commands (RPC) to devices: declared methods with parameter limits, and a persistent state machine.

A device profile declares the methods its devices accept (`MethodSpec`): parameter types and limits, whether
the call is two-way (the device answers) and whether it is dangerous (stopping a compressor, unlocking a
machine: a second user must confirm before anything is sent). Parameters are checked before a command is
stored, so an out-of-range set-point never reaches a device.

States (docs/commands.md):

    AWAITING_CONFIRMATION --confirm--> QUEUED --publish--> SENT --device PUBACK--> DELIVERED
    DELIVERED --response--> SUCCEEDED | FAILED          (two-way; one-way commands end at DELIVERED)
    SENT --device gone before PUBACK--> QUEUED (retried on reconnect, up to max_attempts, then FAILED)
    SENT/DELIVERED --no response within timeout_s--> TIMED_OUT
    AWAITING_CONFIRMATION/QUEUED/SENT --expires_ms passed--> EXPIRED
    AWAITING_CONFIRMATION/QUEUED --cancel--> CANCELLED
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from openiiot.domain.errors import Conflict, ValidationFailed

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_TIMEOUT_S = 3600
MAX_PARAMS_CHARS = 8_000


class ParamType(StrEnum):
    """What a parameter value must be."""

    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of a method: type, bounds (numbers), allowed values (strings), required or not."""

    name: str
    type: ParamType = ParamType.NUMBER
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValidationFailed(f"parameter name {self.name!r} is not a valid identifier", field="name")
        object.__setattr__(self, "type", _enum(ParamType, self.type, "type"))
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValidationFailed(f"parameter {self.name}: min exceeds max", field="min")

    def check(self, value: object, path: str) -> object:
        """The value if it fits this spec; ValidationFailed naming `path` otherwise."""
        if self.type is ParamType.BOOLEAN:
            if not isinstance(value, bool):
                raise ValidationFailed(f"{self.name} must be true or false", field=path)
            return value
        if self.type is ParamType.STRING:
            if not isinstance(value, str):
                raise ValidationFailed(f"{self.name} must be a string", field=path)
            if self.choices and value not in self.choices:
                raise ValidationFailed(f"{self.name} must be one of {', '.join(self.choices)}", field=path)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationFailed(f"{self.name} must be a number", field=path)
        if self.type is ParamType.INTEGER and not float(value).is_integer():
            raise ValidationFailed(f"{self.name} must be a whole number", field=path)
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and value < self.min:
            raise ValidationFailed(
                f"{self.name} must be at least {self.min:g}{unit}, got {value:g}", field=path
            )
        if self.max is not None and value > self.max:
            raise ValidationFailed(
                f"{self.name} must be at most {self.max:g}{unit}, got {value:g}", field=path
            )
        return value


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A method a device profile accepts."""

    name: str
    params: tuple[ParamSpec, ...] = ()
    two_way: bool = True
    dangerous: bool = False
    timeout_s: int = 30  # how long a two-way call waits for the answer once sent
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValidationFailed(f"method name {self.name!r} is not a valid identifier", field="name")
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValidationFailed(f"method {self.name}: parameter names must be unique", field="params")
        if not 1 <= self.timeout_s <= MAX_TIMEOUT_S:
            raise ValidationFailed(f"timeout_s must be between 1 and {MAX_TIMEOUT_S}", field="timeout_s")

    def validated(self, params: Mapping[str, object]) -> dict[str, object]:
        """The parameters checked against the spec; unknown or missing ones are errors naming the field."""
        if not isinstance(params, Mapping):
            raise ValidationFailed("params must be an object", field="params")
        known = {p.name: p for p in self.params}
        for name in params:
            if name not in known:
                raise ValidationFailed(f"{self.name} has no parameter {name!r}", field=f"params.{name}")
        out: dict[str, object] = {}
        for spec in self.params:
            if spec.name not in params:
                if spec.required:
                    raise ValidationFailed(f"{spec.name} is required", field=f"params.{spec.name}")
                continue
            out[spec.name] = spec.check(params[spec.name], f"params.{spec.name}")
        return out


def method_from_dict(raw: Mapping[str, Any]) -> MethodSpec:
    """A method spec from its JSON form (the profile API and storage)."""
    values = dict(raw)
    values["params"] = tuple(ParamSpec(**dict(p)) for p in values.get("params", ()))
    return MethodSpec(**values)


def method_to_dict(method: MethodSpec) -> dict[str, Any]:
    """The JSON form of a method spec."""
    return {
        "name": method.name,
        "params": [
            {
                "name": p.name,
                "type": p.type.value,
                "required": p.required,
                "min": p.min,
                "max": p.max,
                "choices": list(p.choices),
                "unit": p.unit,
            }
            for p in method.params
        ],
        "two_way": method.two_way,
        "dangerous": method.dangerous,
        "timeout_s": method.timeout_s,
        "description": method.description,
    }


class CommandState(StrEnum):
    """Where a command stands."""

    AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        """No further transition is possible."""
        return self in _FINAL


_FINAL = frozenset(
    {
        CommandState.SUCCEEDED,
        CommandState.FAILED,
        CommandState.TIMED_OUT,
        CommandState.EXPIRED,
        CommandState.CANCELLED,
    }
)

_ALLOWED: dict[CommandState, frozenset[CommandState]] = {
    CommandState.AWAITING_CONFIRMATION: frozenset(
        {CommandState.QUEUED, CommandState.CANCELLED, CommandState.EXPIRED}
    ),
    CommandState.QUEUED: frozenset({CommandState.SENT, CommandState.CANCELLED, CommandState.EXPIRED}),
    CommandState.SENT: frozenset(
        {
            CommandState.DELIVERED,
            CommandState.QUEUED,
            CommandState.TIMED_OUT,
            CommandState.EXPIRED,
        }
    ),
    CommandState.DELIVERED: frozenset({CommandState.SUCCEEDED, CommandState.FAILED, CommandState.TIMED_OUT}),
}


@dataclass(frozen=True, slots=True)
class CommandStep:
    """One line of a command's history."""

    ts_ms: int
    state: CommandState
    by: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    """One call of a method on one device."""

    id: str
    tenant_id: str
    device_id: str
    method: str
    params: Mapping[str, object]
    two_way: bool
    dangerous: bool
    state: CommandState
    requested_by: str
    created_ms: int
    expires_ms: int
    timeout_s: int
    idempotency_key: str | None = None
    confirmed_by: str | None = None
    attempts: int = 0
    max_attempts: int = 3
    sent_ms: int | None = None
    completed_ms: int | None = None
    result: object = None
    error: str | None = None
    history: tuple[CommandStep, ...] = field(default_factory=tuple)

    def to(self, state: CommandState, ts_ms: int, by: str, note: str = "", **changes: Any) -> Command:
        """The command in `state`; Conflict when the state machine forbids the step."""
        if state not in _ALLOWED.get(self.state, frozenset()):
            raise Conflict(f"a {self.state.value} command cannot become {state.value}", field="state")
        if state.final:
            changes.setdefault("completed_ms", ts_ms)
        return replace(
            self, state=state, history=(*self.history, CommandStep(ts_ms, state, by, note)), **changes
        )

    def same_request(self, device_id: str, method: str, params: Mapping[str, object]) -> bool:
        """Whether a replay with the same idempotency key asks for the same thing."""
        return (self.device_id, self.method, dict(self.params)) == (device_id, method, dict(params))


def _enum(enum: type[StrEnum], value: object, name: str) -> Any:
    try:
        return enum(str(value))
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum)
        raise ValidationFailed(f"{name} must be one of {allowed}, not {value!r}", field=name) from exc


def command_to_dict(command: Command) -> dict[str, Any]:
    """The JSON form of a command (storage and API)."""
    return {
        "id": command.id,
        "tenant_id": command.tenant_id,
        "device_id": command.device_id,
        "method": command.method,
        "params": dict(command.params),
        "two_way": command.two_way,
        "dangerous": command.dangerous,
        "state": command.state.value,
        "requested_by": command.requested_by,
        "created_ms": command.created_ms,
        "expires_ms": command.expires_ms,
        "timeout_s": command.timeout_s,
        "idempotency_key": command.idempotency_key,
        "confirmed_by": command.confirmed_by,
        "attempts": command.attempts,
        "max_attempts": command.max_attempts,
        "sent_ms": command.sent_ms,
        "completed_ms": command.completed_ms,
        "result": command.result,
        "error": command.error,
        "history": [
            {"ts_ms": h.ts_ms, "state": h.state.value, "by": h.by, "note": h.note} for h in command.history
        ],
    }


def command_from_dict(raw: Mapping[str, Any]) -> Command:
    """The inverse of `command_to_dict`."""
    values = dict(raw)
    values["state"] = CommandState(values["state"])
    values["history"] = tuple(
        CommandStep(h["ts_ms"], CommandState(h["state"]), h["by"], h.get("note", ""))
        for h in values["history"]
    )
    return Command(**values)
