"""Schemas of device profiles."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from openiiot.api.schemas.common import NAME_MAX, InputModel, NotNull, PublicModel
from openiiot.domain.commands import ParamType
from openiiot.domain.model import KeyKind


class TelemetryKeySchema(InputModel):
    """One telemetry key: unit, kind, valid range and precision."""

    key: str = Field(min_length=1, max_length=64)
    unit: str = Field("", max_length=32)
    kind: KeyKind = KeyKind.MEASUREMENT
    min_value: float | None = None
    max_value: float | None = None
    precision: int | None = Field(None, ge=0, le=12)
    description: str = Field("", max_length=500)


class TelemetryKeyPublic(PublicModel):
    """One telemetry key of a profile."""

    key: str
    unit: str
    kind: KeyKind
    min_value: float | None
    max_value: float | None
    precision: int | None
    description: str


class ParamSchema(InputModel):
    """One parameter of a command method: type, bounds and allowed values."""

    name: str = Field(min_length=1, max_length=64)
    type: ParamType = ParamType.NUMBER
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: list[str] = Field(default_factory=list, max_length=100)
    unit: str = Field("", max_length=32)


class MethodSchema(InputModel):
    """A command (RPC) method devices of the profile accept."""

    name: str = Field(min_length=1, max_length=64, examples=["set_pressure_setpoint"])
    params: list[ParamSchema] = Field(default_factory=list, max_length=50)
    two_way: bool = True
    dangerous: bool = Field(False, description="a second user must confirm before it is sent")
    timeout_s: int = Field(30, ge=1, le=3600, description="how long a two-way call waits for the answer")
    description: str = Field("", max_length=500)


class ParamPublic(PublicModel):
    """One parameter of a method."""

    name: str
    type: ParamType
    required: bool
    min: float | None
    max: float | None
    choices: list[str]
    unit: str


class MethodPublic(PublicModel):
    """A command method of a profile."""

    name: str
    params: list[ParamPublic]
    two_way: bool
    dangerous: bool
    timeout_s: int
    description: str


class DeviceProfileCreate(InputModel):
    """A new device profile."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    tenant_id: str | None = None
    keys: list[TelemetryKeySchema] = Field(default_factory=list, max_length=1000)
    strict: bool = False
    inactivity_timeout_s: int = Field(600, ge=10, le=30 * 86400)
    description: str = Field("", max_length=2000)
    methods: list[MethodSchema] = Field(default_factory=list, max_length=100)


class DeviceProfileUpdate(InputModel):
    """Changes to a profile; `keys`, when given, replaces the whole list."""

    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    keys: Annotated[list[TelemetryKeySchema] | None, NotNull, Field(max_length=1000)] = None
    strict: Annotated[bool | None, NotNull] = None
    inactivity_timeout_s: Annotated[int | None, NotNull, Field(ge=10, le=30 * 86400)] = None
    description: Annotated[str | None, NotNull, Field(max_length=2000)] = None
    methods: Annotated[list[MethodSchema] | None, NotNull, Field(max_length=100)] = None


class DeviceProfilePublic(PublicModel):
    """A device profile."""

    id: str
    tenant_id: str
    name: str
    keys: list[TelemetryKeyPublic]
    strict: bool
    inactivity_timeout_s: int
    description: str
    methods: list[MethodPublic] = []
