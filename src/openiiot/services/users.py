"""User handlers: tenant admins manage their tenant's users, platform admins everyone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from openiiot.domain.model import Principal, Role, User
from openiiot.services.audit import record
from openiiot.services.auth import PasswordHashing
from openiiot.services.authorization import (
    require_reader,
    require_role,
    role_at_least,
    scope_of,
    target_tenant,
)
from openiiot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

USER_FIELDS = frozenset({"role", "display_name", "locale", "disabled", "password"})


class UserService:
    """Create, read, update and delete users within the caller's reach."""

    def __init__(self, uow: UnitOfWorkFactory, passwords: PasswordHashing, clock: Clock) -> None:
        self._uow = uow
        self._passwords = passwords
        self._clock = clock

    def create(
        self,
        principal: Principal,
        *,
        username: str,
        password: str,
        role: Role,
        tenant_id: str | None = None,
        display_name: str = "",
        locale: str = "en",
    ) -> User:
        """Create a user with a role no higher than the caller's."""
        require_role(principal, Role.TENANT_ADMIN, "creating users")
        self._check_grantable(principal, role)
        owner = None if role is Role.PLATFORM_ADMIN else target_tenant(principal, tenant_id)
        user = User(
            id=new_id(),
            username=username,
            role=role,
            tenant_id=owner,
            password_hash=self._passwords.hash(password),
            display_name=display_name,
            locale=locale,
        )
        with self._uow() as uow:
            if owner is not None:
                uow.tenants.get(owner)
            self._check_unique(uow, username)
            uow.users.add(user)
            record(
                uow,
                self._clock,
                principal,
                "user.create",
                "user",
                user.id,
                tenant_id=owner,
                details={"username": username, "role": role.value},
            )
            uow.commit()
        log.info("user created", extra={"new_user_id": user.id, "user_id": principal.user_id})
        return user

    def get(self, principal: Principal, user_id: str) -> User:
        """One user of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.users.get(scope_of(principal), user_id)

    def list(self, principal: Principal, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Users of the caller's tenant (all users for platform admins)."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.users.list(scope_of(principal), offset=offset, limit=limit)

    def update(self, principal: Principal, user_id: str, changes: Mapping[str, Any]) -> User:
        """Change role, display name, locale, disabled flag or password."""
        unknown = set(changes) - USER_FIELDS
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationFailed(f"{field} cannot be changed", field=field)
        with self._uow() as uow:
            current = uow.users.get(scope_of(principal), user_id)
            own_account = current.id == principal.user_id
            if not own_account or set(changes) - {"display_name", "locale", "password"}:
                require_role(principal, Role.TENANT_ADMIN, "changing users")
            if own_account and (changes.get("disabled") or "role" in changes):
                raise Conflict("you cannot disable yourself or change your own role", field="role")
            values = dict(changes)
            if "role" in values:
                self._check_grantable(principal, values["role"])
            if "password" in values:
                values["password_hash"] = self._passwords.hash(values.pop("password"))
            user = replace(current, **values)
            uow.users.update(user)
            shown = {k: getattr(v, "value", v) for k, v in changes.items() if k != "password"}
            if "password" in changes:
                shown["password_changed"] = True
            record(
                uow,
                self._clock,
                principal,
                "user.update",
                "user",
                user_id,
                tenant_id=user.tenant_id,
                details=shown,
            )
            uow.commit()
        return user

    def delete(self, principal: Principal, user_id: str) -> None:
        """Delete a user of the caller's tenant; nobody deletes their own account."""
        require_role(principal, Role.TENANT_ADMIN, "deleting users")
        with self._uow() as uow:
            user = uow.users.get(scope_of(principal), user_id)
            if user.id == principal.user_id:
                raise Conflict("you cannot delete your own account")
            uow.users.delete(scope_of(principal), user_id)
            record(
                uow,
                self._clock,
                principal,
                "user.delete",
                "user",
                user_id,
                tenant_id=user.tenant_id,
                details={"username": user.username},
            )
            uow.commit()
        log.info("user deleted", extra={"deleted_user_id": user_id, "user_id": principal.user_id})

    @staticmethod
    def _check_grantable(principal: Principal, role: Role) -> None:
        if not role_at_least(principal.role, role):
            raise PermissionDenied(f"you cannot grant the role {role.value}")

    @staticmethod
    def _check_unique(uow: UnitOfWork, username: str) -> None:
        try:
            uow.users.get_by_username(username)
        except NotFound:
            return
        raise Conflict(f"username {username!r} is taken", field="username")
