"""Schemas of login, the caller's identity and API keys."""

from __future__ import annotations

from pydantic import Field

from openiiot.api.schemas.common import NAME_MAX, InputModel, PublicModel
from openiiot.domain.model import Role


class LoginRequest(InputModel):
    """Username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenPublic(PublicModel):
    """An access token (OAuth 2 field names)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")


class ApiKeyCreate(InputModel):
    """A new API key; its role defaults to the creator's and may not exceed it."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    role: Role | None = None
    expires_ms: int | None = Field(None, description="Expiry, UTC epoch milliseconds; none = never")


class ApiKeyPublic(PublicModel):
    """An API key without its secret."""

    id: str
    tenant_id: str | None
    user_id: str
    name: str
    role: Role
    created_ms: int
    expires_ms: int | None
    revoked: bool


class ApiKeyCreated(ApiKeyPublic):
    """A new API key with its secret, shown this once."""

    secret: str = Field(description="Send as `X-API-Key` or `Authorization: Bearer`; not shown again")
