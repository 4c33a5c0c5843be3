"""Authentication: argon2 passwords, short-lived JWT access tokens, API keys, the first platform admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from openiiot.domain.credentials import generate_token, hash_token, new_id
from openiiot.domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from openiiot.domain.model import ApiKey, Principal, Role, User
from openiiot.services.audit import record
from openiiot.services.authorization import ROLE_RANK, require_role, role_at_least, scope_of
from openiiot.services.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

API_KEY_PREFIX = "oik_"
JWT_ALGORITHM = "HS256"
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
MIN_PASSWORD_CHARS = 8
_BAD_CREDENTIALS = "wrong username or password"  # one message: no hint whether the user exists


class PasswordHashing:
    """argon2id hashing of user passwords; tests pass cheaper parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # verified against for unknown users, so that their answer takes as long as a wrong password
        self._dummy_hash = self._hasher.hash(generate_token())

    def hash(self, password: str) -> str:
        """The argon2id hash of a new password, after checking its length."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise ValidationFailed(
                f"password must have at least {MIN_PASSWORD_CHARS} characters", field="password"
            )
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash still costs one verification."""
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token issued at login (no refresh token yet: clients log in again when it expires)."""

    access_token: str
    expires_in_s: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2 token type, not a secret


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key and its secret, which is shown this once and stored only as a digest."""

    key: ApiKey
    secret: str


class AuthService:
    """Logs users in, resolves bearer tokens and API keys to a Principal, and manages API keys."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        jwt_secret: str,
        jwt_ttl_s: int,
        passwords: PasswordHashing | None = None,
    ) -> None:
        if len(jwt_secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
            raise ConfigurationError(f"the JWT secret must have at least {MIN_JWT_SECRET_BYTES} bytes")
        self._uow = uow
        self._clock = clock
        self._secret = jwt_secret
        self._ttl_s = jwt_ttl_s
        self.passwords = passwords or PasswordHashing()

    def login(self, username: str, password: str) -> TokenPair:
        """Check a password and issue an access token; the same error for unknown user and wrong password."""
        with self._uow() as uow:
            try:
                user: User | None = uow.users.get_by_username(username)
            except NotFound:
                user = None
        if not self.passwords.verify(user.password_hash if user else None, password) or user is None:
            log.info("login refused", extra={"username": username})
            raise AuthenticationFailed(_BAD_CREDENTIALS)
        if user.disabled:
            raise AuthenticationFailed("this account is disabled")
        now_s = self._clock.now_ms() // 1000
        claims = {
            "sub": user.id,
            "role": user.role.value,
            "tenant_id": user.tenant_id,
            "iat": now_s,
            "exp": now_s + self._ttl_s,
        }
        token = jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)
        return TokenPair(access_token=token, expires_in_s=self._ttl_s)

    def authenticate_bearer(self, token: str) -> Principal:
        """Resolve a JWT access token or an `oik_` API key to the caller."""
        if token.startswith(API_KEY_PREFIX):
            return self.authenticate_api_key(token)
        try:
            # expiry is checked against the injected clock below, not PyJWT's wall clock
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                options={"verify_exp": False, "require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed("invalid access token") from exc
        if int(claims["exp"]) * 1000 <= self._clock.now_ms():
            raise AuthenticationFailed("the access token has expired")
        # the user is re-read so that disabling an account or changing its role acts at once
        user = self._active_user(str(claims["sub"]))
        return Principal(user_id=user.id, username=user.username, role=user.role, tenant_id=user.tenant_id)

    def authenticate_api_key(self, secret: str) -> Principal:
        """Resolve an API key secret; revoked, expired and orphaned keys are refused."""
        with self._uow() as uow:
            try:
                key = uow.api_keys.get_by_hash(hash_token(secret))
            except NotFound as exc:
                raise AuthenticationFailed("invalid API key") from exc
        if key.revoked:
            raise AuthenticationFailed("this API key has been revoked")
        if key.expires_ms is not None and key.expires_ms <= self._clock.now_ms():
            raise AuthenticationFailed("this API key has expired")
        owner = self._active_user(key.user_id)
        # a key never acts above its owner's current role, even if the owner was demoted after creating it
        role = key.role if ROLE_RANK[key.role] <= ROLE_RANK[owner.role] else owner.role
        return Principal(
            user_id=owner.id,
            username=owner.username,
            role=role,
            tenant_id=key.tenant_id,
            scopes=frozenset({f"api-key:{key.id}"}),
        )

    def _active_user(self, user_id: str) -> User:
        with self._uow() as uow:
            try:
                user = uow.users.get(None, user_id)
            except NotFound as exc:
                raise AuthenticationFailed("the account no longer exists") from exc
        if user.disabled:
            raise AuthenticationFailed("this account is disabled")
        return user

    def me(self, principal: Principal) -> User:
        """The caller's own user record."""
        with self._uow() as uow:
            return uow.users.get(None, principal.user_id)

    def create_api_key(
        self, principal: Principal, name: str, role: Role | None = None, expires_ms: int | None = None
    ) -> IssuedApiKey:
        """Issue an API key in the caller's tenant with a role no higher than the caller's."""
        require_role(principal, Role.TENANT_ADMIN, "creating API keys")
        if not name.strip():
            raise ValidationFailed("API key name must not be empty", field="name")
        key_role = role or principal.role
        if not role_at_least(principal.role, key_role):
            raise PermissionDenied("an API key cannot have a higher role than its creator")
        if key_role is Role.PLATFORM_ADMIN and not principal.is_platform_admin:  # pragma: no cover
            raise PermissionDenied("only platform admins create platform-admin keys")
        now_ms = self._clock.now_ms()
        if expires_ms is not None and expires_ms <= now_ms:
            raise ValidationFailed("expires must lie in the future", field="expires_ms")
        secret = API_KEY_PREFIX + generate_token()
        key = ApiKey(
            id=new_id(),
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            name=name.strip(),
            key_hash=hash_token(secret),
            role=key_role,
            created_ms=now_ms,
            expires_ms=expires_ms,
        )
        with self._uow() as uow:
            uow.api_keys.add(key)
            record(
                uow,
                self._clock,
                principal,
                "api_key.create",
                "api_key",
                key.id,
                tenant_id=key.tenant_id,
                details={"name": key.name, "role": key_role.value},
            )
            uow.commit()
        log.info("api key created", extra={"api_key_id": key.id, "user_id": principal.user_id})
        return IssuedApiKey(key=key, secret=secret)

    def list_api_keys(self, principal: Principal) -> list[ApiKey]:
        """API keys of the caller's tenant (all keys for platform admins)."""
        require_role(principal, Role.TENANT_ADMIN, "listing API keys")
        with self._uow() as uow:
            return uow.api_keys.list(scope_of(principal))

    def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        """Revoke a key of the caller's tenant; revoking twice is harmless."""
        require_role(principal, Role.TENANT_ADMIN, "revoking API keys")
        with self._uow() as uow:
            key = next((k for k in uow.api_keys.list(scope_of(principal)) if k.id == key_id), None)
            if key is None:
                raise NotFound("api key", key_id)
            if not key.revoked:
                uow.api_keys.update(replace(key, revoked=True))
                record(
                    uow,
                    self._clock,
                    principal,
                    "api_key.revoke",
                    "api_key",
                    key_id,
                    tenant_id=key.tenant_id,
                    details={"name": key.name},
                )
                uow.commit()
        log.info("api key revoked", extra={"api_key_id": key_id, "user_id": principal.user_id})

    def ensure_admin(self, username: str, password: str) -> bool:
        """Create the platform admin when the platform has no user at all; True when one was created."""
        password_hash = self.passwords.hash(password)
        with self._uow() as uow:
            if uow.users.list(None, limit=1):
                return False
            uow.users.add(
                User(
                    id=new_id(),
                    username=username,
                    role=Role.PLATFORM_ADMIN,
                    tenant_id=None,
                    password_hash=password_hash,
                    display_name="Platform administrator",
                )
            )
            uow.commit()
        log.info("first platform admin created", extra={"username": username})
        return True
