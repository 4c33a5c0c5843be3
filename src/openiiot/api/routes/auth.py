"""Login and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter

from openiiot.api.deps import PrincipalDep, ServicesDep
from openiiot.api.schemas.auth import LoginRequest, TokenPublic
from openiiot.api.schemas.common import PROBLEM_RESPONSES
from openiiot.api.schemas.tenants import UserPublic

router = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/login", response_model=TokenPublic)
def login(body: LoginRequest, services: ServicesDep) -> TokenPublic:
    """Exchange a username and password for a short-lived access token."""
    pair = services.auth.login(body.username, body.password)
    return TokenPublic(
        access_token=pair.access_token, token_type=pair.token_type, expires_in=pair.expires_in_s
    )


@router.get("/me", response_model=UserPublic)
def me(principal: PrincipalDep, services: ServicesDep) -> UserPublic:
    """The signed-in user."""
    return UserPublic.model_validate(services.auth.me(principal))
