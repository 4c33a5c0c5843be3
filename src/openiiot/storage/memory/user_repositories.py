"""Dict-based repositories of users and API keys, with the same rules as the SQL ones."""

from __future__ import annotations

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.model import ApiKey, User
from openiiot.storage.memory.metadata_repositories import (
    MemoryRepository,
    check_new,
    in_scope,
    page,
    scoped_get,
)


class MemoryUserRepository(MemoryRepository):
    """Users in memory."""

    def add(self, user: User) -> None:
        """Store a new user; Conflict when the username is taken."""
        check_new(self._t.users, "user", user.id)
        if user.tenant_id is not None:
            scoped_get(self._t.tenants, "tenant", None, user.tenant_id)
        self._check_username(user)
        self._t.users[user.id] = user

    def get(self, tenant_id: str | None, user_id: str) -> User:
        """The user, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.users, "user", tenant_id, user_id)

    def get_by_username(self, username: str) -> User:
        """The user of that username in any tenant, or NotFound."""
        for u in self._t.users.values():
            if u.username == username:
                return u
        raise NotFound("user", username)

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[User]:
        """Users in the scope ordered by username."""
        items = (u for u in self._t.users.values() if in_scope(u.tenant_id, tenant_id))
        return page(items, lambda u: u.username, offset, limit)

    def update(self, user: User) -> None:
        """Replace a user; the tenant cannot change."""
        old = self._t.users.get(user.id)
        if old is None or old.tenant_id != user.tenant_id:
            raise NotFound("user", user.id)
        self._check_username(user)
        self._t.users[user.id] = user

    def delete(self, tenant_id: str | None, user_id: str) -> None:
        """Delete a user together with its API keys."""
        scoped_get(self._t.users, "user", tenant_id, user_id)
        for key_id in [k.id for k in self._t.api_keys.values() if k.user_id == user_id]:
            del self._t.api_keys[key_id]
        del self._t.users[user_id]

    def _check_username(self, user: User) -> None:
        for u in self._t.users.values():
            if u.username == user.username and u.id != user.id:
                raise Conflict(f"username {user.username!r} is taken", field="username")


class MemoryApiKeyRepository(MemoryRepository):
    """API keys in memory."""

    def add(self, key: ApiKey) -> None:
        """Store a new key of an existing user of the same tenant."""
        check_new(self._t.api_keys, "API key", key.id)
        owner = self._t.users.get(key.user_id)
        if owner is None or owner.tenant_id != key.tenant_id:
            raise NotFound("user", key.user_id)
        self._check_hash(key)
        self._t.api_keys[key.id] = key

    def get_by_hash(self, key_hash: str) -> ApiKey:
        """The key with that digest, or NotFound."""
        for k in self._t.api_keys.values():
            if k.key_hash == key_hash:
                return k
        raise NotFound("API key", "with that secret")

    def list(self, tenant_id: str | None, *, user_id: str | None = None) -> list[ApiKey]:
        """Keys in the scope, optionally of one user, oldest first."""
        items = (
            k
            for k in self._t.api_keys.values()
            if in_scope(k.tenant_id, tenant_id) and (user_id is None or k.user_id == user_id)
        )
        return sorted(items, key=lambda k: (k.created_ms, k.id))

    def update(self, key: ApiKey) -> None:
        """Replace a key; tenant and owner cannot change."""
        old = self._t.api_keys.get(key.id)
        if old is None or old.tenant_id != key.tenant_id or old.user_id != key.user_id:
            raise NotFound("API key", key.id)
        self._check_hash(key)
        self._t.api_keys[key.id] = key

    def _check_hash(self, key: ApiKey) -> None:
        for k in self._t.api_keys.values():
            if k.key_hash == key.key_hash and k.id != key.id:
                raise Conflict("an API key with this secret already exists", field="key_hash")
