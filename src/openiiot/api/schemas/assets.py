"""Schemas of sites and assets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from openiiot.api.schemas.common import NAME_MAX, InputModel, NotNull, PublicModel


class SiteCreate(InputModel):
    """A new site."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    tenant_id: str | None = None
    address: str | None = Field(None, max_length=500)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class SiteUpdate(InputModel):
    """Changes to a site; omitted fields keep their value."""

    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    address: str | None = Field(None, max_length=500)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class SitePublic(PublicModel):
    """A site."""

    id: str
    tenant_id: str
    name: str
    address: str | None
    latitude: float | None
    longitude: float | None


class AssetCreate(InputModel):
    """A new asset under a site, optionally below a parent asset."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    site_id: str
    tenant_id: str | None = None
    asset_type: str = Field("machine", min_length=1, max_length=64)
    parent_id: str | None = None
    maintenance_mode: bool = False


class AssetUpdate(InputModel):
    """Changes to an asset; omitted fields keep their value; `parent_id: null` makes it a root."""

    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    asset_type: Annotated[str | None, NotNull, Field(min_length=1, max_length=64)] = None
    parent_id: str | None = None
    maintenance_mode: Annotated[bool | None, NotNull] = None


class MaintenanceMode(InputModel):
    """Switch maintenance mode on or off."""

    on: bool


class AssetPublic(PublicModel):
    """An asset."""

    id: str
    tenant_id: str
    site_id: str
    name: str
    asset_type: str
    parent_id: str | None
    maintenance_mode: bool
