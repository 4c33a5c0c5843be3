"""Shared test configuration: how tests that need an external service skip, or fail under CI."""

from __future__ import annotations

import os

import pytest


def require_service(name: str, how: str) -> None:
    """Skip (locally) or fail (CI: OPENIIOT_TEST_REQUIRE_SERVICES=1) when a needed service is missing."""
    message = f"{name} is not available: {how}"
    if os.environ.get("OPENIIOT_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (required because OPENIIOT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)
