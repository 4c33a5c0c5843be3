"""Consumption of cumulative counters: deltas between consecutive samples with resets and rollover."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from openiiot.domain.telemetry import ConsumptionRow

# A decrease counts as a rollover (wrap) only when the previous value was within this fraction of
# `rollover_at` below it; any other decrease is a meter reset.
ROLLOVER_NEAR_FRACTION = 0.1


def counter_delta(prev: float, new: float, rollover_at: float | None) -> tuple[float, bool]:
    """Consumption between two consecutive samples, and whether a reset or rollover happened."""
    if new >= prev:
        return new - prev, False
    if rollover_at is not None and rollover_at - prev <= ROLLOVER_NEAR_FRACTION * rollover_at:
        return rollover_at - prev + new, True
    # A reset: the meter restarted from zero, so what it shows now was consumed since the reset.
    return new, True


def consumption_rows(
    samples: Iterable[tuple[int, float, int]],
    previous_value: float | None,
    bucket_end: Callable[[int], int],
    rollover_at: float | None,
) -> list[ConsumptionRow]:
    """Sum deltas into buckets.

    `samples` are (ts_ms, value, bucket_start_ms) ordered by ts; `previous_value` is the last sample before
    the range (its delta to the first sample belongs to the first sample's bucket). A bucket with samples
    appears even when its consumption is 0.
    """
    deltas: dict[int, float] = {}
    resets: dict[int, int] = {}
    prev = previous_value
    for _ts_ms, value, bucket in samples:
        deltas.setdefault(bucket, 0.0)
        resets.setdefault(bucket, 0)
        if prev is not None:
            delta, reset = counter_delta(prev, value, rollover_at)
            deltas[bucket] += delta
            resets[bucket] += int(reset)
        prev = value
    return [
        ConsumptionRow(start_ms=b, end_ms=bucket_end(b), delta=deltas[b], resets=resets[b])
        for b in sorted(deltas)
    ]
