"""Fixtures every integration module sees: the stack under test (stack_fixtures.py)."""

from __future__ import annotations

from tests.integration.stack_fixtures import stack, stack_database

__all__ = ["stack", "stack_database"]
