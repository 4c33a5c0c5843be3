"""Metadata engines: SQLite (embedded mode) tuned for several threads, PostgreSQL via psycopg 3."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from openiiot.domain.errors import ConfigurationError, Overloaded

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: execution option read by the SQLite `begin` hook; "IMMEDIATE" opens the transaction at once (migrations)
SQLITE_BEGIN_OPTION = "openiiot_sqlite_begin"


PG_CONNECT_TIMEOUT_S = 10  # libpq's limit on establishing one connection (TCP, TLS, authentication)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file (absolute, so the working directory does not matter)."""
    return f"sqlite:///{path.expanduser().resolve()}"


def normalize_database_url(url: str) -> str:
    """Pin the driver: plain PostgreSQL URLs use psycopg 3; other URLs pass unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_metadata_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for the metadata database, safe to share between threads.

    On SQLite a writer waits up to `busy_timeout_ms` for another writer, then gets Overloaded.
    """
    normalized = normalize_database_url(url)
    try:
        backend = make_url(normalized).get_backend_name()
    except ArgumentError as exc:
        # the URL is not echoed: it may hold a password
        raise ConfigurationError(
            "malformed database URL in OPENIIOT_DATABASE_URL; it must look like "
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
        ) from exc
    if backend == "sqlite":
        return _create_sqlite_engine(normalized, busy_timeout_ms)
    if backend == "postgresql":
        try:
            # a server that accepts the connection but never answers must not hang start-up or a request
            return create_engine(
                normalized,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            )
        except (ImportError, NoSuchModuleError) as exc:
            raise ConfigurationError(
                "PostgreSQL metadata needs the psycopg driver: pip install 'psycopg[binary]'"
            ) from exc
    raise ConfigurationError(
        f"unsupported metadata database {backend!r} in OPENIIOT_DATABASE_URL: use sqlite:// or postgresql://"
    )


def _create_sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    database = make_url(url).database
    if not database or database == ":memory:":
        # one shared connection, or every thread would see its own empty in-memory database
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    def configure_connection(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process crashes
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    event.listen(engine, "connect", configure_connection)
    event.listen(engine, "begin", _begin_sqlite)
    event.listen(engine, "handle_error", _busy_is_overload)
    return engine


def _busy_is_overload(context: ExceptionContext) -> None:
    # the busy timeout ran out: another writer held the lock too long; the caller may retry later
    original = context.original_exception
    if isinstance(original, sqlite3.OperationalError) and "locked" in str(original):
        raise Overloaded("the metadata database is busy; retry shortly") from context.sqlalchemy_exception


def _begin_sqlite(conn: Any) -> None:
    # By default pysqlite starts the transaction at the first write, so a unit of work's reads never wait
    # and its write waits on busy_timeout (a snapshot taken at an earlier read could fail at once with
    # SQLITE_BUSY). Uniqueness therefore rests on constraints, not on reads. Migrations ask for
    # BEGIN IMMEDIATE: transactional DDL, and a second process migrating at once waits, then finds head.
    if conn.get_execution_options().get(SQLITE_BEGIN_OPTION) == "IMMEDIATE":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
