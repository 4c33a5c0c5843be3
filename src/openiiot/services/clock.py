"""The system clock adapter of the Clock port."""

from __future__ import annotations

import time


class SystemClock:
    """Wall-clock UTC time in milliseconds."""

    def now_ms(self) -> int:
        """Current UTC time in milliseconds since the epoch."""
        return time.time_ns() // 1_000_000
