"""OEE per ISO 22400-2:2014 from machine-state intervals and production counters (domain-methods D).

Time model (ISO 22400-2): planned busy time PBT is the time the machine is planned to produce (planned
stops and time without a plan are outside it); actual production time APT is the part of PBT in which it
produces. Every other state inside PBT (unplanned down, setup, delay) is lost availability.

- Availability = APT / PBT
- Performance (ISO: effectiveness) = PRI x PQ / APT, PRI the planned (ideal) run time per item, PQ produced
- Quality ratio = GQ / PQ, GQ good quantity
- OEE = availability x performance x quality

Times are in seconds (any consistent epoch); counts are items.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    """Machine states mapped to ISO 22400-2 time elements."""

    PRODUCING = "producing"  # APT
    DOWN = "down"  # unplanned downtime (ADOT): failure, alarm, interruption
    SETUP = "setup"  # setup / changeover (AUST)
    DELAY = "delay"  # waiting for material, operator (ADET)
    PLANNED_STOP = "planned_stop"  # outside planned busy time (breaks, no shift, planned maintenance)


@dataclass(frozen=True)
class StateInterval:
    """The machine was in ``state`` over [start_s, end_s); ``reason`` names the cause of a loss."""

    start_s: float
    end_s: float
    state: State
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.end_s >= self.start_s:
            raise ValueError("an interval must end at or after its start")


@dataclass(frozen=True)
class CountSpan:
    """``produced`` items (of which ``good``; None = not measured) made over [start_s, end_s).

    ``ideal_cycle_s`` overrides the default ideal cycle time for these items (mixed products: ISO 22400-2
    sums PRI x PQ over the products).
    """

    start_s: float
    end_s: float
    produced: float
    good: float | None = None
    ideal_cycle_s: float | None = None

    def __post_init__(self) -> None:
        if self.end_s < self.start_s or self.produced < 0:
            raise ValueError("bad count span")
        if self.good is not None and not 0 <= self.good <= self.produced:
            raise ValueError("good quantity must lie between 0 and the produced quantity")
        if self.ideal_cycle_s is not None and self.ideal_cycle_s <= 0:
            raise ValueError("ideal cycle time must be positive")


@dataclass(frozen=True)
class Oee:
    planned_busy_s: float  # PBT
    production_s: float  # APT
    produced: float  # PQ
    good: float | None  # GQ (None when no quality data)
    ideal_cycle_s: float  # default PRI
    ideal_run_s: float  # sum of PRI x PQ over the count spans
    availability: float | None
    performance: float | None
    quality: float | None
    downtime_by_reason: dict[str, float] = field(default_factory=dict)  # seconds inside PBT, not producing

    @property
    def oee(self) -> float | None:
        """A x P x Q; None when a factor is unknown (no quality data gives None, not A x P)."""
        if self.availability is None or self.performance is None or self.quality is None:
            return None
        return self.availability * self.performance * self.quality


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def compute(
    intervals: Iterable[StateInterval],
    counts: Iterable[CountSpan],
    ideal_cycle_s: float,
    start_s: float = -math.inf,
    end_s: float = math.inf,
) -> Oee:
    """OEE over [start_s, end_s). Intervals and count spans are clipped to it; a count span that crosses a
    boundary is shared in proportion to its overlap (a zero-length span counts where its end falls)."""
    if ideal_cycle_s <= 0:
        raise ValueError("ideal cycle time must be positive")
    pbt = apt = 0.0
    losses: dict[str, float] = {}
    for iv in intervals:
        d = _overlap(iv.start_s, iv.end_s, start_s, end_s)
        if d <= 0 or iv.state is State.PLANNED_STOP:
            continue
        pbt += d
        if iv.state is State.PRODUCING:
            apt += d
        else:
            key = iv.reason or iv.state.value
            losses[key] = losses.get(key, 0.0) + d
    produced = ideal_run = 0.0
    good: float | None = 0.0
    for c in counts:
        span = c.end_s - c.start_s
        if span > 0:
            share = _overlap(c.start_s, c.end_s, start_s, end_s) / span
        else:
            share = 1.0 if start_s <= c.end_s < end_s else 0.0
        if share <= 0:
            continue
        produced += share * c.produced
        ideal_run += share * c.produced * (c.ideal_cycle_s or ideal_cycle_s)
        good = None if good is None or c.good is None else good + share * c.good
    return Oee(
        planned_busy_s=pbt,
        production_s=apt,
        produced=produced,
        good=good,
        ideal_cycle_s=ideal_cycle_s,
        ideal_run_s=ideal_run,
        availability=apt / pbt if pbt > 0 else None,
        performance=ideal_run / apt if apt > 0 else None,
        quality=(good / produced if good is not None and produced > 0 else None),
        downtime_by_reason=dict(sorted(losses.items(), key=lambda kv: -kv[1])),
    )


def by_period(
    intervals: Sequence[StateInterval],
    counts: Sequence[CountSpan],
    ideal_cycle_s: float,
    boundaries: Sequence[float],
) -> list[Oee]:
    """OEE for each consecutive period [boundaries[i], boundaries[i + 1]) (e.g. days or shifts)."""
    if len(boundaries) < 2 or any(b1 <= b0 for b0, b1 in itertools.pairwise(boundaries)):
        raise ValueError("need at least two strictly increasing boundaries")
    return [compute(intervals, counts, ideal_cycle_s, b0, b1) for b0, b1 in itertools.pairwise(boundaries)]
