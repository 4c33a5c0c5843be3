"""The scheduler lock on PostgreSQL: a session-level advisory lock held on a connection of its own.

`pg_try_advisory_lock` never waits: the first process to ask holds the lock for as long as its session
lives; the others get False and leave the leader-only jobs alone. When the holder stops or dies, or its
connection drops, PostgreSQL releases the lock with the session and the next process to ask takes it over.
A holder whose connection broke learns it at its next check (a `SELECT 1`) and stops running those jobs
until it holds the lock again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import psycopg

from openiiot.storage.telemetry.postgres_store import libpq_url

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresLeaderLock:
    """LeaderLock over a PostgreSQL advisory lock (production mode with several processes)."""

    def __init__(self, url: str, name: str = "openiiot-scheduler", *, connect_timeout_s: int = 3) -> None:
        self._url = libpq_url(url)
        self._key = lock_key(name)
        self._timeout = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._lock = threading.Lock()

    def held(self) -> bool:
        """True when this process holds the lock, taking it when it is free; False while the database is
        unreachable (a process that cannot reach the database must not act as the scheduler)."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._held = False
                    self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._timeout)
                if self._held:
                    self._conn.execute("SELECT 1")
                else:
                    row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
                    self._held = bool(row and row[0])
                    if self._held:
                        log.info("this process is now the scheduler")
            except psycopg.Error:
                if self._held:
                    log.warning("lost the scheduler lock with the database connection")
                self._held = False
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            return self._held

    def close(self) -> None:
        """Release the lock (by ending the session)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._held = False
