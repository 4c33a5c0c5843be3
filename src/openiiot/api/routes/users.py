"""Users."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.api.schemas.tenants import UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, principal: PrincipalDep, services: ServicesDep) -> UserPublic:
    """Create a user with a role no higher than the caller's."""
    user = services.users.create(principal, **body.model_dump())
    return UserPublic.model_validate(user)


@router.get("", response_model=Page[UserPublic])
def list_users(
    principal: PrincipalDep, services: ServicesDep, offset: OffsetQuery = 0, limit: LimitQuery = 100
) -> Page[UserPublic]:
    """Users of the caller's tenant."""
    items = services.users.list(principal, offset=offset, limit=limit)
    return Page(items=[UserPublic.model_validate(u) for u in items], offset=offset, limit=limit)


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: str, principal: PrincipalDep, services: ServicesDep) -> UserPublic:
    """One user."""
    return UserPublic.model_validate(services.users.get(principal, user_id))


@router.put("/{user_id}", response_model=UserPublic)
def update_user(user_id: str, body: UserUpdate, principal: PrincipalDep, services: ServicesDep) -> UserPublic:
    """Change a user's role, name, locale, password or disabled flag."""
    changes = body.model_dump(exclude_unset=True)
    return UserPublic.model_validate(services.users.update(principal, user_id, changes))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(user_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a user."""
    services.users.delete(principal, user_id)
