"""Supervised periodic jobs (retention, alarm ticks, work-order verification, ...) and the scheduler lock.

A job created with `leader=` runs only in the process that holds the scheduler lock: with several platform
processes on one PostgreSQL database exactly one of them runs retention, alarm ticks and the other
fleet-wide jobs (a PostgreSQL advisory lock, `storage/sql/leader.py`); when that process dies its session
ends, the lock is released and another process takes over at its next run.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    """The scheduler lock: at most one process holds it at a time."""

    def held(self) -> bool:
        """True when this process holds the lock now (acquiring it if it is free)."""
        ...


class SingleProcess:
    """The embedded platform is one process: it is always the scheduler."""

    def held(self) -> bool:
        """Always True."""
        return True


class PeriodicJob:
    """Runs `action` every `interval_s` in a daemon thread; a failure is logged and retried with backoff."""

    def __init__(
        self, name: str, interval_s: float, action: Callable[[], object], *, leader: LeaderLock | None = None
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._action = action
        self._leader = leader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.skipped = 0  # runs left to the process that holds the scheduler lock
        self.failures = 0

    def start(self) -> None:
        """Start the thread; the first run happens at once."""
        self._thread = threading.Thread(target=self._loop, name=f"openiiot-job-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        """Ask the job to stop and wait for a run in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        backoff_s = 1.0
        while not self._stop.is_set():
            try:
                if self._leader is not None and not self._leader.held():
                    self.skipped += 1
                    self._stop.wait(self.interval_s)
                    continue
                self._action()
                self.runs += 1
                backoff_s = 1.0
                wait_s = self.interval_s
            except Exception:
                self.failures += 1
                log.exception("periodic job failed", extra={"job": self.name})
                wait_s = min(backoff_s * random.uniform(1.0, 1.5), self.interval_s)
                backoff_s *= 2
            self._stop.wait(wait_s)
