"""In-memory TelemetryStore: a plain-Python fake for unit tests, written to be obviously correct.

It keeps every point in dictionaries and computes every answer from them, one point at a time. It has no
rollups, so after `delete_before` its aggregates forget the deleted range (the DuckDB store keeps rollups).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from openiiot.domain.telemetry import (
    Aggregate,
    AggregateRow,
    ConsumptionRow,
    Interval,
    LatestValue,
    Quality,
    RawPage,
    TelemetryBatch,
    TelemetryPoint,
)
from openiiot.storage.telemetry.buckets import bucket_end_ms, bucket_start_ms, check_interval, zone
from openiiot.storage.telemetry.counters import consumption_rows
from openiiot.storage.telemetry.paging import check_page_limit, decode_cursor, encode_cursor

_Series = tuple[str, str]  # (device_id, key)


class MemoryTelemetryStore:
    """TelemetryStore kept in dictionaries; thread-safe through one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[_Series, dict[int, TelemetryPoint]] = {}
        self._latest: dict[_Series, LatestValue] = {}

    def append(self, batch: TelemetryBatch) -> int:
        """Store every point (last write wins on the same device, key and ts) and update latest values."""
        points = batch.points()
        with self._lock:
            for p in points:
                series = (p.device_id, p.key)
                self._points.setdefault(series, {})[p.ts_ms] = p
                current = self._latest.get(series)
                if current is None or p.ts_ms >= current.ts_ms:
                    self._latest[series] = LatestValue(p.ts_ms, p.value, p.text, Quality(p.quality))
        return len({(p.device_id, p.key, p.ts_ms) for p in points})

    def _series_points(self, device_id: str, key: str) -> list[TelemetryPoint]:
        with self._lock:
            return sorted(self._points.get((device_id, key), {}).values(), key=lambda p: p.ts_ms)

    def _keys_of(self, device_id: str) -> list[str]:
        with self._lock:
            return [k for (d, k) in self._points if d == device_id]

    def raw(
        self,
        device_id: str,
        keys: Sequence[str] | None,
        start_ms: int,
        end_ms: int,
        *,
        limit: int = 1000,
        cursor: str | None = None,
        descending: bool = False,
    ) -> RawPage:
        """Raw points of the device in range, ordered by (ts, key), paged by an opaque cursor."""
        check_page_limit(limit)
        after = decode_cursor(cursor, descending) if cursor else None
        chosen = set(keys) if keys is not None else set(self._keys_of(device_id))
        found = [
            p
            for k in chosen
            for p in self._series_points(device_id, k)
            if start_ms <= p.ts_ms < end_ms
            and (after is None or ((p.ts_ms, p.key) < after if descending else (p.ts_ms, p.key) > after))
        ]
        found.sort(key=lambda p: (p.ts_ms, p.key), reverse=descending)
        page = found[:limit]
        more = len(found) > limit
        next_cursor = encode_cursor(page[-1].ts_ms, page[-1].key, descending) if more else None
        return RawPage(points=page, next_cursor=next_cursor)

    def aggregate(
        self,
        device_id: str,
        keys: Sequence[str],
        start_ms: int,
        end_ms: int,
        interval: Interval,
        aggregates: Sequence[Aggregate],
        timezone: str = "UTC",
    ) -> dict[str, list[AggregateRow]]:
        """Aggregates of numeric values per key per bucket; empty buckets are omitted."""
        check_interval(interval)
        tz = zone(timezone)
        out: dict[str, list[AggregateRow]] = {}
        for key in dict.fromkeys(keys):
            buckets: dict[int, list[TelemetryPoint]] = {}
            for p in self._series_points(device_id, key):
                if start_ms <= p.ts_ms < end_ms and p.value is not None:
                    buckets.setdefault(bucket_start_ms(p.ts_ms, interval, tz), []).append(p)
            out[key] = [_aggregate_row(start, buckets[start], aggregates) for start in sorted(buckets)]
        return out

    def latest(
        self, device_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, LatestValue]]:
        """Newest value of each key of each requested device (an empty dict for a device without data)."""
        with self._lock:
            return {
                d: {k: v for (dev, k), v in self._latest.items() if dev == d and (keys is None or k in keys)}
                for d in device_ids
            }

    def consumption(
        self,
        device_id: str,
        key: str,
        start_ms: int,
        end_ms: int,
        interval: Interval,
        timezone: str = "UTC",
        *,
        rollover_at: float | None = None,
    ) -> list[ConsumptionRow]:
        """Counter consumption per bucket, computed from the samples ordered by ts."""
        check_interval(interval)
        tz = zone(timezone)
        numeric = [p for p in self._series_points(device_id, key) if p.value is not None]
        before = [p.value for p in numeric if p.ts_ms < start_ms and p.value is not None]
        samples = [
            (p.ts_ms, p.value, bucket_start_ms(p.ts_ms, interval, tz))
            for p in numeric
            if start_ms <= p.ts_ms < end_ms and p.value is not None
        ]
        return consumption_rows(
            samples, before[-1] if before else None, lambda b: bucket_end_ms(b, interval, tz), rollover_at
        )

    def delete_before(self, device_ids: Sequence[str], cutoff_ms: int) -> int:
        """Delete raw points of these devices older than `cutoff_ms`; latest values stay."""
        wanted = set(device_ids)
        deleted = 0
        with self._lock:
            for (device_id, _key), by_ts in self._points.items():
                if device_id in wanted:
                    old = [ts for ts in by_ts if ts < cutoff_ms]
                    for ts in old:
                        del by_ts[ts]
                    deleted += len(old)
        return deleted

    def delete_device(self, device_id: str) -> None:
        """Forget every point and latest value of the device."""
        with self._lock:
            for series in [s for s in self._points if s[0] == device_id]:
                del self._points[series]
            for series in [s for s in self._latest if s[0] == device_id]:
                del self._latest[series]

    def close(self) -> None:
        """Nothing to release."""


def _aggregate_row(
    start_ms: int, points: list[TelemetryPoint], aggregates: Sequence[Aggregate]
) -> AggregateRow:
    values = [p.value for p in points if p.value is not None]
    total = math.fsum(values)
    computed: dict[Aggregate, float] = {
        Aggregate.AVG: total / len(values),
        Aggregate.MIN: min(values),
        Aggregate.MAX: max(values),
        Aggregate.SUM: total,
        Aggregate.COUNT: float(len(values)),
        Aggregate.FIRST: values[0],
        Aggregate.LAST: values[-1],
    }
    return AggregateRow(
        start_ms=start_ms, count=len(values), values={str(a): computed[Aggregate(a)] for a in aggregates}
    )
