"""Tolerant reading of console query strings: a broken value becomes a clear 400 page, never a crash."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import Request

from openiiot.domain.errors import ValidationFailed

MAX_TEXT_CHARS = 200


def text_param(request: Request, name: str) -> str | None:
    """A trimmed text parameter, None when absent or empty."""
    value = request.query_params.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT_CHARS:
        raise ValidationFailed(f"{name} is too long", field=name)
    return value or None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be a whole number", field=name) from exc
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}", field=name)
    return value


def choice_param(request: Request, name: str, choices: Collection[str]) -> str | None:
    """One of `choices`, or None when absent."""
    value = text_param(request, name)
    if value is not None and value not in choices:
        raise ValidationFailed(f"{name} must be one of {', '.join(sorted(choices))}", field=name)
    return value
