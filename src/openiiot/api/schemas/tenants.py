"""Schemas of tenants and users."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from openiiot.api.schemas.common import NAME_MAX, InputModel, NotNull, PublicModel
from openiiot.domain.model import Role

Locale = Literal["en", "zh-CN"]


class TenantCreate(InputModel):
    """A new tenant (enterprise)."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    timezone: str = "Asia/Shanghai"
    region_code: str | None = Field(None, description="GB/T 2260 county-level code, 6 digits")
    industry_code: str | None = Field(None, description="GB/T 4754 code such as C or C3441")
    credit_code: str | None = Field(None, max_length=32, description="Unified social credit code")
    retention_days: int = Field(365, ge=1, le=36500)


class TenantUpdate(InputModel):
    """Changes to a tenant; omitted fields keep their value."""

    # non-nullable fields default to None without accepting null: omitted = unchanged, null = 422
    name: Annotated[str | None, NotNull, Field(min_length=1, max_length=NAME_MAX)] = None
    timezone: Annotated[str | None, NotNull] = None
    region_code: str | None = None
    industry_code: str | None = None
    credit_code: str | None = Field(None, max_length=32)
    retention_days: Annotated[int | None, NotNull, Field(ge=1, le=36500)] = None


class TenantPublic(PublicModel):
    """A tenant."""

    id: str
    name: str
    timezone: str
    region_code: str | None
    industry_code: str | None
    credit_code: str | None
    retention_days: int


class UserCreate(InputModel):
    """A new user; platform admins name the tenant, others create in their own."""

    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    tenant_id: str | None = None
    display_name: str = Field("", max_length=NAME_MAX)
    locale: Locale = "en"


class UserUpdate(InputModel):
    """Changes to a user; omitted fields keep their value."""

    role: Annotated[Role | None, NotNull] = None
    display_name: Annotated[str | None, NotNull, Field(max_length=NAME_MAX)] = None
    locale: Annotated[Locale | None, NotNull] = None
    disabled: Annotated[bool | None, NotNull] = None
    password: Annotated[str | None, NotNull, Field(min_length=8, max_length=1024)] = None


class UserPublic(PublicModel):
    """A user, without the password hash."""

    id: str
    username: str
    role: Role
    tenant_id: str | None
    display_name: str
    locale: str
    disabled: bool
