"""Telemetry value objects: points, columnar batches, aggregation requests and results."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from itertools import repeat

from openiiot.domain.errors import ValidationFailed


class Quality(IntEnum):
    """OPC UA style quality of a value."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


class Aggregate(StrEnum):
    """Aggregation functions over an interval."""

    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    FIRST = "first"
    LAST = "last"


_GOOD = int(Quality.GOOD)


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """One value of one key of one device at one instant (UTC milliseconds)."""

    device_id: str
    key: str
    ts_ms: int
    value: float | None
    text: str | None = None
    quality: Quality = Quality.GOOD


@dataclass(slots=True)
class TelemetryBatch:
    """Columnar batch of points: the unit of append on the ingest hot path."""

    device_id: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    ts_ms: list[int] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)

    def add(
        self,
        device_id: str,
        key: str,
        ts_ms: int,
        value: float | None,
        text: str | None = None,
        quality: int = Quality.GOOD,
    ) -> None:
        """Append one point."""
        self.device_id.append(device_id)
        self.key.append(key)
        self.ts_ms.append(ts_ms)
        self.value.append(value)
        self.text.append(text)
        self.quality.append(int(quality))

    def add_numbers(self, device_id: str, ts_ms: int, keys: Iterable[str], values: list[float]) -> None:
        """Append one good-quality number per key, all of one device at one instant (the ingest fast path)."""
        n = len(values)
        self.device_id.extend(repeat(device_id, n))
        self.key.extend(keys)
        self.ts_ms.extend(repeat(ts_ms, n))
        self.value.extend(values)
        self.text.extend(repeat(None, n))
        self.quality.extend(repeat(_GOOD, n))

    def extend(self, other: TelemetryBatch) -> None:
        """Append every point of `other`."""
        self.device_id.extend(other.device_id)
        self.key.extend(other.key)
        self.ts_ms.extend(other.ts_ms)
        self.value.extend(other.value)
        self.text.extend(other.text)
        self.quality.extend(other.quality)

    def __len__(self) -> int:
        return len(self.ts_ms)

    @classmethod
    def from_points(cls, points: list[TelemetryPoint]) -> TelemetryBatch:
        """Build a batch from point objects (convenient in tests, not on the hot path)."""
        batch = cls()
        for p in points:
            batch.add(p.device_id, p.key, p.ts_ms, p.value, p.text, p.quality)
        return batch

    def points(self) -> list[TelemetryPoint]:
        """The batch as point objects (tests and small batches)."""
        return [
            TelemetryPoint(d, k, t, v, x, Quality(q))
            for d, k, t, v, x, q in zip(
                self.device_id, self.key, self.ts_ms, self.value, self.text, self.quality, strict=True
            )
        ]


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest value of one key of one device."""

    ts_ms: int
    value: float | None
    text: str | None = None
    quality: Quality = Quality.GOOD


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """Aggregates of one key over one interval starting at `start_ms` (UTC)."""

    start_ms: int
    count: int
    values: dict[str, float | None]  # aggregate name -> value


@dataclass(frozen=True, slots=True)
class ConsumptionRow:
    """Counter consumption (delta with resets and rollover handled) over one interval."""

    start_ms: int
    end_ms: int
    delta: float
    resets: int = 0  # meter resets or rollovers detected inside the interval


@dataclass(frozen=True, slots=True)
class RawPage:
    """One page of raw points, ordered by (ts, key); pass `next_cursor` to get the next page."""

    points: list[TelemetryPoint]
    next_cursor: str | None


_INTERVAL_RE = re.compile(r"^(\d+)(ms|s|m|min|h|d|w|mo|month)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True, slots=True)
class Interval:
    """An aggregation interval: a fixed number of milliseconds, or a number of calendar months."""

    ms: int = 0
    months: int = 0

    @property
    def is_calendar(self) -> bool:
        """Day and longer buckets are aligned to the tenant's local midnight; months are calendar months."""
        return self.months > 0 or self.ms >= 86_400_000

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Parse '1s', '5m', '15min', '1h', '1d', '1w', '1mo'; 1 s up to 1 month."""
        m = _INTERVAL_RE.match(text.strip())
        if not m:
            raise ValidationFailed(
                f"interval {text!r} must look like 1s, 5m, 1h, 1d, 1w or 1mo", field="interval"
            )
        n, unit = int(m.group(1)), m.group(2)
        if n <= 0:
            raise ValidationFailed("interval must be positive", field="interval")
        if unit in ("mo", "month"):
            if n != 1:
                raise ValidationFailed("the longest interval is 1 month", field="interval")
            return cls(months=1)
        ms = n * _UNIT_MS[unit]
        if ms < 1000:
            raise ValidationFailed("the shortest interval is 1 s", field="interval")
        if ms > 31 * 86_400_000:
            raise ValidationFailed("the longest interval is 1 month", field="interval")
        return cls(ms=ms)
