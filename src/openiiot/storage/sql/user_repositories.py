"""SQL repositories of people and integrations: users and API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.model import ApiKey, Role, User
from openiiot.storage.sql.repository_base import SqlRepository, values_of
from openiiot.storage.sql.tables import ApiKeyRow, TenantRow, UserRow


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        tenant_id=row.tenant_id,
        password_hash=row.password_hash,
        display_name=row.display_name,
        locale=row.locale,
        disabled=row.disabled,
    )


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        name=row.name,
        key_hash=row.key_hash,
        role=Role(row.role),
        created_ms=row.created_ms,
        expires_ms=row.expires_ms,
        revoked=row.revoked,
    )


def _with_plain_role(obj: User | ApiKey) -> dict[str, Any]:
    return {**values_of(obj), "role": obj.role.value}


class SqlUserRepository(SqlRepository):
    """Users in SQL; usernames are unique across the platform."""

    def add(self, user: User) -> None:
        """Store a new user; Conflict when the username is taken."""
        if self._exists(UserRow, user.id):
            raise Conflict(f"user {user.id} already exists", field="id")
        if user.tenant_id is not None and not self._exists(TenantRow, user.tenant_id):
            raise NotFound("tenant", user.tenant_id)
        self._check_username(user)
        self._session.add(UserRow(**_with_plain_role(user)))
        self._flush()

    def get(self, tenant_id: str | None, user_id: str) -> User:
        """The user, or NotFound when it does not exist in the scope."""
        return _user(self._scoped_get(UserRow, "user", tenant_id, user_id))

    def get_by_username(self, username: str) -> User:
        """The user of that username in any tenant (sign-in), or NotFound."""
        row = self._session.scalar(select(UserRow).where(UserRow.username == username))
        if row is None:
            raise NotFound("user", username)
        return _user(row)

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Users in the scope ordered by username."""
        stmt = select(UserRow).order_by(UserRow.username)
        if tenant_id is not None:
            stmt = stmt.where(UserRow.tenant_id == tenant_id)
        return [_user(r) for r in self._page(stmt, offset, limit)]

    def update(self, user: User) -> None:
        """Replace a user's fields; the tenant cannot change (nor a tenant user become platform admin)."""
        row = self._session.get(UserRow, user.id)
        if row is None or row.tenant_id != user.tenant_id:
            raise NotFound("user", user.id)
        self._check_username(user)
        for name, value in _with_plain_role(user).items():
            setattr(row, name, value)
        self._flush()

    def delete(self, tenant_id: str | None, user_id: str) -> None:
        """Delete a user together with its API keys."""
        row = self._scoped_get(UserRow, "user", tenant_id, user_id)
        for key in self._session.scalars(select(ApiKeyRow).where(ApiKeyRow.user_id == user_id)):
            self._session.delete(key)
        self._session.delete(row)
        self._flush()

    def _check_username(self, user: User) -> None:
        clash = select(UserRow.id).where(UserRow.username == user.username, UserRow.id != user.id)
        if self._session.scalar(clash) is not None:
            raise Conflict(f"username {user.username!r} is taken", field="username")


class SqlApiKeyRepository(SqlRepository):
    """API keys in SQL, found by the unique digest of their secret."""

    def add(self, key: ApiKey) -> None:
        """Store a new key of an existing user of the same tenant."""
        if self._exists(ApiKeyRow, key.id):
            raise Conflict(f"API key {key.id} already exists", field="id")
        owner = self._session.get(UserRow, key.user_id)
        if owner is None or owner.tenant_id != key.tenant_id:
            raise NotFound("user", key.user_id)
        self._check_hash(key)
        self._session.add(ApiKeyRow(**_with_plain_role(key)))
        self._flush()

    def get_by_hash(self, key_hash: str) -> ApiKey:
        """The key with that digest, or NotFound."""
        row = self._session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        if row is None:
            raise NotFound("API key", "with that secret")
        return _api_key(row)

    def list(self, tenant_id: str | None, *, user_id: str | None = None) -> list[ApiKey]:
        """Keys in the scope, optionally of one user, oldest first."""
        stmt = select(ApiKeyRow).order_by(ApiKeyRow.created_ms, ApiKeyRow.id)
        if tenant_id is not None:
            stmt = stmt.where(ApiKeyRow.tenant_id == tenant_id)
        if user_id is not None:
            stmt = stmt.where(ApiKeyRow.user_id == user_id)
        return [_api_key(r) for r in self._session.scalars(stmt)]

    def update(self, key: ApiKey) -> None:
        """Replace a key's fields (revocation, expiry, name); tenant and owner cannot change."""
        row = self._session.get(ApiKeyRow, key.id)
        if row is None or row.tenant_id != key.tenant_id or row.user_id != key.user_id:
            raise NotFound("API key", key.id)
        self._check_hash(key)
        for name, value in _with_plain_role(key).items():
            setattr(row, name, value)
        self._flush()

    def _check_hash(self, key: ApiKey) -> None:
        clash = select(ApiKeyRow.id).where(ApiKeyRow.key_hash == key.key_hash, ApiKeyRow.id != key.id)
        if self._session.scalar(clash) is not None:
            raise Conflict("an API key with this secret already exists", field="key_hash")
