"""Schemas of device profiles."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from openiiot.api.schemas.common import NAME_MAX, InputModel, NotNull, PublicModel
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


class DeviceProfileCreate(InputModel):
    """A new device profile."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    tenant_id: str | None = None
    keys: list[TelemetryKeySchema] = Field(default_factory=list, max_length=1000)
    strict: bool = False
    inactivity_timeout_s: int = Field(600, ge=10, le=30 * 86400)
    description: str = Field("", max_length=2000)


class DeviceProfileUpdate(InputModel):
    """Changes to a profile; `keys`, when given, replaces the whole list."""

    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    keys: Annotated[list[TelemetryKeySchema] | None, NotNull, Field(max_length=1000)] = None
    strict: Annotated[bool | None, NotNull] = None
    inactivity_timeout_s: Annotated[int | None, NotNull, Field(ge=10, le=30 * 86400)] = None
    description: Annotated[str | None, NotNull, Field(max_length=2000)] = None


class DeviceProfilePublic(PublicModel):
    """A device profile."""

    id: str
    tenant_id: str
    name: str
    keys: list[TelemetryKeyPublic]
    strict: bool
    inactivity_timeout_s: int
    description: str
