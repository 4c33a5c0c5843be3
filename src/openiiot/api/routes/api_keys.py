"""API keys for integrations: created with their secret shown once, listed, revoked."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import PrincipalDep, ServicesDep
from openiiot.api.schemas.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from openiiot.api.schemas.common import PROBLEM_RESPONSES

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, principal: PrincipalDep, services: ServicesDep) -> ApiKeyCreated:
    """Create an API key; the secret is in this answer only."""
    issued = services.auth.create_api_key(principal, body.name, body.role, body.expires_ms)
    public = ApiKeyPublic.model_validate(issued.key)
    return ApiKeyCreated(**public.model_dump(), secret=issued.secret)


@router.get("", response_model=list[ApiKeyPublic])
def list_api_keys(principal: PrincipalDep, services: ServicesDep) -> list[ApiKeyPublic]:
    """API keys of the caller's tenant."""
    return [ApiKeyPublic.model_validate(k) for k in services.auth.list_api_keys(principal)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Revoke an API key; it stops working at once."""
    services.auth.revoke_api_key(principal, key_id)
