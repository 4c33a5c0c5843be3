"""Throw-away PostgreSQL databases for tests, on the server named by OPENIIOT_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from tests.conftest import require_service

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOW = "start PostgreSQL 15 on 127.0.0.1:5432 or set OPENIIOT_TEST_POSTGRES_URL"


def server_url() -> str:
    """The URL of an existing database on the test server (used to create and drop the test databases)."""
    return os.environ.get("OPENIIOT_TEST_POSTGRES_URL", DEFAULT_SERVER_URL)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the test server, or a skip (a failure under CI) when there is none."""
    try:
        return psycopg.connect(server_url(), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", f"{HOW} ({str(exc).strip()})")
        raise  # require_service always raises; this keeps type checkers content


@contextmanager
def temporary_database() -> Iterator[str]:
    """A fresh, empty database `openiiot_test_<random>`, dropped (with its connections) on exit."""
    name = f"openiiot_test_{secrets.token_hex(6)}"
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield with_database(server_url(), name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
