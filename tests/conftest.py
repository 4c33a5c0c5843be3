"""Shared test configuration: how tests that need an external service skip, or fail under CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def require_service(name: str, how: str) -> None:
    """Skip (locally) or fail (CI: OPENIIOT_TEST_REQUIRE_SERVICES=1) when a needed service is missing."""
    message = f"{name} is not available: {how}"
    if os.environ.get("OPENIIOT_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (required because OPENIIOT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """URL of a fresh PostgreSQL database shared by one test module, dropped after it."""
    from tests.postgres_support import temporary_database  # psycopg is needed only by these tests

    with temporary_database() as url:
        yield url
