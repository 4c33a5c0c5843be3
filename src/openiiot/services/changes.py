"""Partial updates of frozen domain objects, shared by the update handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from openiiot.domain.errors import ValidationFailed

T = TypeVar("T")


def apply_changes(obj: T, changes: Mapping[str, Any], allowed: frozenset[str]) -> T:
    """A copy of a frozen domain object with `changes` applied; its invariants are re-checked."""
    unknown = set(changes) - allowed
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"{field} cannot be changed", field=field)
    return replace(obj, **changes)  # type: ignore[type-var]
