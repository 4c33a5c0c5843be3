"""Supervised periodic jobs (retention, later rollup maintenance and inactivity checks)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicJob:
    """Runs `action` every `interval_s` in a daemon thread; a failure is logged and retried with backoff."""

    def __init__(self, name: str, interval_s: float, action: Callable[[], object]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._action = action
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
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
