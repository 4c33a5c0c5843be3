"""Authentication: passwords, JWT access tokens, API keys and the first platform admin."""

from __future__ import annotations

import jwt
import pytest
from tests.unit.management_fixtures import (
    JWT_SECRET,
    PLATFORM_ADMIN,
    Harness,
    build_harness,
    cheap_passwords,
    principal,
)

from openiiot.domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from openiiot.domain.model import Role
from openiiot.services.auth import API_KEY_PREFIX, AuthService


@pytest.fixture
def h() -> Harness:
    harness = build_harness(ttl_s=900)
    assert harness.services.auth.ensure_admin("admin", "correct horse battery")
    return harness


def _tenant_admin(h: Harness, username: str = "alice") -> tuple[str, str]:
    tenant = h.services.tenants.create(PLATFORM_ADMIN, {"name": "Acme"})
    h.services.users.create(
        PLATFORM_ADMIN,
        username=username,
        password="alice-password",
        role=Role.TENANT_ADMIN,
        tenant_id=tenant.id,
    )
    return tenant.id, username


def test_login_issues_a_token_that_resolves_to_the_user(h: Harness) -> None:
    pair = h.services.auth.login("admin", "correct horse battery")
    assert pair.token_type == "bearer" and pair.expires_in_s == 900
    claims = jwt.decode(pair.access_token, JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["role"] == "platform-admin" and claims["tenant_id"] is None
    assert claims["exp"] - claims["iat"] == 900
    who = h.services.auth.authenticate_bearer(pair.access_token)
    assert who.username == "admin" and who.is_platform_admin and who.user_id == claims["sub"]


def test_tenant_user_token_carries_the_tenant(h: Harness) -> None:
    tenant_id, username = _tenant_admin(h)
    who = h.services.auth.authenticate_bearer(h.services.auth.login(username, "alice-password").access_token)
    assert who.tenant_id == tenant_id and who.role is Role.TENANT_ADMIN


def test_unknown_user_and_wrong_password_get_the_same_message(h: Harness) -> None:
    with pytest.raises(AuthenticationFailed) as unknown:
        h.services.auth.login("nobody", "whatever-password")
    with pytest.raises(AuthenticationFailed) as wrong:
        h.services.auth.login("admin", "wrong password")
    assert str(unknown.value) == str(wrong.value)


def test_expired_token_is_refused(h: Harness) -> None:
    token = h.services.auth.login("admin", "correct horse battery").access_token
    h.clock.now += 899_000
    h.services.auth.authenticate_bearer(token)
    h.clock.now += 1_000
    with pytest.raises(AuthenticationFailed, match="expired"):
        h.services.auth.authenticate_bearer(token)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode(
            {"sub": "x", "exp": 9_999_999_999}, "another-secret-0123456789abcdef-0123", algorithm="HS256"
        ),
        jwt.encode({"sub": "x"}, JWT_SECRET, algorithm="HS256"),  # no exp
    ],
)
def test_forged_or_malformed_tokens_are_refused(h: Harness, token: str) -> None:
    with pytest.raises(AuthenticationFailed):
        h.services.auth.authenticate_bearer(token)


def test_disabled_user_cannot_log_in_and_loses_existing_tokens(h: Harness) -> None:
    _, username = _tenant_admin(h)
    token = h.services.auth.login(username, "alice-password").access_token
    user = next(u for u in h.services.users.list(PLATFORM_ADMIN) if u.username == username)
    h.services.users.update(PLATFORM_ADMIN, user.id, {"disabled": True})
    with pytest.raises(AuthenticationFailed, match="disabled"):
        h.services.auth.login(username, "alice-password")
    with pytest.raises(AuthenticationFailed, match="disabled"):
        h.services.auth.authenticate_bearer(token)


def test_ensure_admin_only_creates_the_first_user(h: Harness) -> None:
    assert not h.services.auth.ensure_admin("second", "another password")
    with pytest.raises(AuthenticationFailed):
        h.services.auth.login("second", "another password")


def test_short_passwords_and_secrets_are_refused() -> None:
    h = build_harness()
    with pytest.raises(ValidationFailed) as err:
        h.services.auth.ensure_admin("admin", "short")
    assert err.value.field == "password"
    with pytest.raises(ConfigurationError):
        AuthService(h.uow, h.clock, "too-short", 900, cheap_passwords())


def test_api_key_acts_in_the_creators_tenant_and_can_be_revoked(h: Harness) -> None:
    tenant_id, username = _tenant_admin(h)
    alice = h.services.auth.authenticate_bearer(
        h.services.auth.login(username, "alice-password").access_token
    )
    issued = h.services.auth.create_api_key(alice, "scada import", role=Role.VIEWER)
    assert issued.secret.startswith(API_KEY_PREFIX)
    assert issued.key.key_hash != issued.secret and issued.secret not in repr(issued.key)
    who = h.services.auth.authenticate_bearer(issued.secret)  # accepted as a bearer token too
    assert (who.tenant_id, who.role, who.username) == (tenant_id, Role.VIEWER, username)
    assert [k.id for k in h.services.auth.list_api_keys(alice)] == [issued.key.id]
    h.services.auth.revoke_api_key(alice, issued.key.id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        h.services.auth.authenticate_api_key(issued.secret)


def test_api_key_role_cannot_exceed_its_creator(h: Harness) -> None:
    tenant_id, _ = _tenant_admin(h)
    with pytest.raises(PermissionDenied):
        h.services.auth.create_api_key(principal(Role.TENANT_ADMIN, tenant_id), "k", role=Role.PLATFORM_ADMIN)
    with pytest.raises(PermissionDenied):
        h.services.auth.create_api_key(principal(Role.OPERATOR, tenant_id), "k")


def test_api_key_expires_and_unknown_keys_fail(h: Harness) -> None:
    _, username = _tenant_admin(h)
    alice = h.services.auth.authenticate_bearer(
        h.services.auth.login(username, "alice-password").access_token
    )
    issued = h.services.auth.create_api_key(alice, "short-lived", expires_ms=h.clock.now + 60_000)
    h.services.auth.authenticate_api_key(issued.secret)
    h.clock.now += 60_000
    with pytest.raises(AuthenticationFailed, match="expired"):
        h.services.auth.authenticate_api_key(issued.secret)
    with pytest.raises(AuthenticationFailed):
        h.services.auth.authenticate_api_key(API_KEY_PREFIX + "made-up")


def test_api_key_follows_a_demoted_owner(h: Harness) -> None:
    _, username = _tenant_admin(h)
    alice = h.services.auth.authenticate_bearer(
        h.services.auth.login(username, "alice-password").access_token
    )
    issued = h.services.auth.create_api_key(alice, "admin key")
    h.services.users.update(PLATFORM_ADMIN, alice.user_id, {"role": Role.VIEWER})
    assert h.services.auth.authenticate_api_key(issued.secret).role is Role.VIEWER


def test_revoking_another_tenants_key_reads_as_not_found(h: Harness) -> None:
    _, username = _tenant_admin(h)
    alice = h.services.auth.authenticate_bearer(
        h.services.auth.login(username, "alice-password").access_token
    )
    issued = h.services.auth.create_api_key(alice, "k")
    other = h.services.tenants.create(PLATFORM_ADMIN, {"name": "Other"})
    with pytest.raises(NotFound):
        h.services.auth.revoke_api_key(principal(Role.TENANT_ADMIN, other.id), issued.key.id)
    h.services.auth.authenticate_api_key(issued.secret)  # still valid


def test_default_argon2_parameters_round_trip() -> None:
    from openiiot.services.auth import PasswordHashing

    hashing = PasswordHashing()
    stored = hashing.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert hashing.verify(stored, "correct horse battery")
    assert not hashing.verify(stored, "wrong horse battery")
    assert not hashing.verify(None, "correct horse battery")
