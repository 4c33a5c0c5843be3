"""Device access tokens and API-key secrets: random, shown once, stored as a SHA-256 digest.

Device tokens are 32 random bytes, so a fast digest is safe (no dictionary attack is possible) and keeps
broker authentication cheap during reconnect storms; user passwords use argon2 instead (services/auth).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_id() -> str:
    """A new random identifier (UUID4 text), used for every entity."""
    return str(uuid.uuid4())


def generate_token() -> str:
    """A new secret of 32 random bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Constant-time check of a presented token against its stored digest."""
    return bool(token_hash) and hmac.compare_digest(hash_token(token), token_hash)
