"""The outcome of one gateway message, added up over its children's parts (services/gateway.py)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from openiiot.services.ingest import IngestMessage, IngestOutcome


class GatewayOutcome:
    """Adds up the outcomes of a gateway message's child parts; reports once, when the last one is in."""

    def __init__(self, message: IngestMessage, rejected: Counter[str], on_all: Callable[[], None]) -> None:
        self._message = message
        self._lock = threading.Lock()
        self._waiting = 0
        self._sealed = False  # every part is submitted
        self._abandoned = False  # a part could not be submitted: the whole message stays unacknowledged
        self._accepted = 0
        self._rejected = rejected
        self._examples: list[tuple[str, str]] = []
        self._on_all = on_all

    def expect(self) -> None:
        """One more part was submitted."""
        with self._lock:
            self._waiting += 1

    def part_done(self, outcome: IngestOutcome) -> None:
        """A part was committed (called on the ingest worker thread)."""
        with self._lock:
            self._waiting -= 1
            self._accepted += outcome.accepted
            self._rejected.update(outcome.rejected)
            self._examples.extend(outcome.examples)
            last = self._sealed and self._waiting == 0 and not self._abandoned
        if last:
            self._report()

    def seal(self) -> None:
        """Every part is submitted: report now if they are all done, else when the last one is."""
        with self._lock:
            self._sealed = True
            last = self._waiting == 0 and not self._abandoned
        if last:
            self._report()

    def abandon(self) -> None:
        """A part could not be submitted: never report, so the message stays unacknowledged."""
        with self._lock:
            self._abandoned = True

    def _report(self) -> None:
        self._on_all()
        if self._message.on_done is not None:
            self._message.on_done(
                IngestOutcome(self._accepted, dict(self._rejected), None, tuple(self._examples[:10]))
            )
