"""Mergeable aggregate states and the raw/rollup read plan shared by the SQL telemetry backends."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openiiot.domain.telemetry import Aggregate, AggregateRow
from openiiot.storage.telemetry.buckets import HOUR_MS, MINUTE_MS, Segment, ceil_to, floor_to, rollup_aligned

# Rollup tables from the coarsest to the finest; both backends name them alike.
ROLLUPS = ((HOUR_MS, "rollup_1h"), (MINUTE_MS, "rollup_1m"))


@dataclass(slots=True)
class AggregateState:
    """Mergeable aggregate state of one series in one bucket."""

    count: int
    min: float
    max: float
    sums: list[float]
    first_ts: int
    first: float
    last_ts: int
    last: float

    def merge(self, other: AggregateState) -> None:
        """Fold another partial state of the same bucket into this one."""
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.sums.extend(other.sums)
        if other.first_ts < self.first_ts:
            self.first_ts, self.first = other.first_ts, other.first
        if other.last_ts > self.last_ts:
            self.last_ts, self.last = other.last_ts, other.last

    def row(self, start_ms: int, aggregates: Sequence[Aggregate]) -> AggregateRow:
        """The requested aggregates of this state as a result row."""
        total = math.fsum(self.sums)
        computed: dict[Aggregate, float] = {
            Aggregate.AVG: total / self.count,
            Aggregate.MIN: self.min,
            Aggregate.MAX: self.max,
            Aggregate.SUM: total,
            Aggregate.COUNT: float(self.count),
            Aggregate.FIRST: self.first,
            Aggregate.LAST: self.last,
        }
        return AggregateRow(
            start_ms=start_ms, count=self.count, values={str(a): computed[Aggregate(a)] for a in aggregates}
        )


def merge_partial_rows(states: dict[tuple[int, int], AggregateState], rows: Iterable[Sequence[Any]]) -> None:
    """Merge rows (series_id, bucket, count, min, max, sum, first_ts, first, last_ts, last) into `states`."""
    for sid, bucket, count, mn, mx, total, fts, first, lts, last in rows:
        state = AggregateState(int(count), mn, mx, [total], fts, first, lts, last)
        key = (int(sid), int(bucket))
        existing = states.get(key)
        if existing is None:
            states[key] = state
        else:
            existing.merge(state)


def read_pieces(
    plan: list[Segment], lo: int, hi: int, use_rollups: bool
) -> list[tuple[str | None, int, int]]:
    """Split [lo, hi) into raw edges (table None) and a rollup middle when every bucket boundary fits it."""
    if use_rollups:
        for step_ms, table in ROLLUPS:
            if not rollup_aligned(plan, step_ms):
                continue
            mid_lo, mid_hi = ceil_to(lo, step_ms), floor_to(hi, step_ms)
            if mid_lo >= mid_hi:
                continue  # too short for this rollup; a finer one may still fit
            pieces: list[tuple[str | None, int, int]] = [(table, mid_lo, mid_hi)]
            pieces += [(None, a, b) for a, b in ((lo, mid_lo), (mid_hi, hi)) if a < b]
            return pieces
    return [(None, lo, hi)]
