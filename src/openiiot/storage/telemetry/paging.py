"""Opaque cursors for paging raw telemetry by (ts, key)."""

from __future__ import annotations

import base64
import binascii
import json

from openiiot.domain.errors import ValidationFailed

MAX_PAGE = 10_000


def encode_cursor(ts_ms: int, key: str, descending: bool) -> str:
    """Cursor pointing after the point (ts_ms, key) in the given direction."""
    raw = json.dumps([ts_ms, key, int(descending)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, descending: bool) -> tuple[int, str]:
    """The (ts_ms, key) a cursor points after; ValidationFailed if it is malformed or of another direction."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_ms, key, desc = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationFailed("cursor is malformed", field="cursor") from exc
    if not isinstance(ts_ms, int) or not isinstance(key, str) or desc not in (0, 1):
        raise ValidationFailed("cursor is malformed", field="cursor")
    if bool(desc) != descending:
        raise ValidationFailed("cursor belongs to the other sort direction", field="cursor")
    return ts_ms, key


def check_page_limit(limit: int) -> None:
    """Reject page sizes outside 1..MAX_PAGE."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
