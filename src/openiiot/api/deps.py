"""FastAPI dependencies as `Annotated` aliases: the services and the authenticated caller."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from openiiot.domain.errors import AuthenticationFailed
from openiiot.domain.model import Principal
from openiiot.services.management import Services

_bearer = HTTPBearer(
    auto_error=False, description="JWT access token from /api/v1/auth/login, or an oik_ API key"
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An oik_ API key")


def get_services(request: Request) -> Services:
    """The management services the app was created with."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from `Authorization: Bearer <jwt | oik_...>` or `X-API-Key: oik_...`."""
    source_ip = request.client.host if request.client is not None else None
    if api_key:
        return replace(services.auth.authenticate_api_key(api_key), source_ip=source_ip)
    if bearer is not None and bearer.credentials:
        return replace(services.auth.authenticate_bearer(bearer.credentials), source_ip=source_ip)
    raise AuthenticationFailed("authentication required: send a bearer token or an X-API-Key header")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
OffsetQuery = Annotated[int, Query(ge=0, description="Items to skip")]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Items per page, at most 1000")]


def split_csv(value: str | None) -> list[str] | None:
    """`a,b` query values as a list; None or empty stays None."""
    if value is None:
        return None
    items = [part.strip() for part in value.split(",") if part.strip()]
    return items or None
