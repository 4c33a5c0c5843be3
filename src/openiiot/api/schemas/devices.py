"""Schemas of devices, their credentials, attributes and bulk provisioning."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, JsonValue

from openiiot.api.schemas.common import NAME_MAX, InputModel, NotNull, PublicModel
from openiiot.domain.model import AttributeScope


class DeviceCreate(InputModel):
    """A new device."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    profile_id: str
    tenant_id: str | None = None
    label: str = Field("", max_length=NAME_MAX)
    asset_id: str | None = None
    gateway_id: str | None = None
    is_gateway: bool = Field(False, description="May speak for child devices on the gateway topics")


class DeviceUpdate(InputModel):
    """Changes to a device; omitted fields keep their value."""

    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    label: Annotated[str | None, NotNull, Field(max_length=NAME_MAX)] = None
    profile_id: Annotated[str | None, NotNull] = None
    asset_id: str | None = None
    gateway_id: str | None = None
    is_gateway: Annotated[bool | None, NotNull] = None
    disabled: Annotated[bool | None, NotNull] = None


class DevicePublic(PublicModel):
    """A device, without its credentials."""

    id: str
    tenant_id: str
    name: str
    label: str
    profile_id: str
    asset_id: str | None
    gateway_id: str | None
    is_gateway: bool
    disabled: bool
    created_ms: int


class DeviceCreated(BaseModel):
    """A new device with its access token, shown this once."""

    device: DevicePublic
    access_token: str


class CredentialsRotated(BaseModel):
    """The new access token; the previous one no longer works."""

    access_token: str


class BulkCreatedRow(PublicModel):
    """A CSV row that became a device."""

    row: int
    device_id: str
    name: str
    access_token: str


class BulkRowError(PublicModel):
    """A rejected CSV row."""

    row: int
    field: str
    reason: str


class BulkReport(PublicModel):
    """What a bulk upload did, row by row (the header is row 1)."""

    created: list[BulkCreatedRow]
    errors: list[BulkRowError]


class AttributePublic(BaseModel):
    """One attribute."""

    key: str
    value: JsonValue
    updated_ms: int


class AttributesPublic(BaseModel):
    """The attributes of one scope of a device."""

    device_id: str
    scope: AttributeScope
    attributes: list[AttributePublic]
