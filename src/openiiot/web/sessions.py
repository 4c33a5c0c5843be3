"""Console sessions and CSRF tokens.

A session is the platform's own short-lived JWT access token (services/auth.py), kept in an HttpOnly,
SameSite=Lax cookie: it is signed, carries its expiry, and every request re-reads the user, so a disabled
account or a changed role acts at once. No session table is needed, and several API processes share
sessions through the JWT secret alone.

CSRF: every form and htmx request carries a token derived from the session token by HMAC. A page of
another site can neither read the cookie nor compute the token. Before sign-in (the login form itself) a
random double-submit cookie plays the same part.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "openiiot_session"
LOGIN_CSRF_COOKIE = "openiiot_login_csrf"
LANGUAGE_COOKIE = "openiiot_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_CSRF_CONTEXT = b"openiiot-console-csrf-v1"


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed context keyed by the session token."""
    return hmac.new(session_token.encode("utf-8"), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    """A random token for the double-submit cookie of the sign-in form."""
    return secrets.token_urlsafe(24)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
