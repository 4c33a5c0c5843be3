"""Alarm condition trees: AND/OR/NOT over comparison, window and timeout leaves, parsed from JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

MAX_WINDOW_S = 86_400  # windows are kept in rule state; a day bounds its size
MAX_TIMEOUT_S = 30 * 86_400  # same ceiling as a profile's inactivity timeout
MAX_DEPTH = 12
MAX_NODES = 200  # per tree: bounds evaluation cost on the ingest path
MAX_COUNT = 100_000


class Op(StrEnum):
    """Comparison operators of threshold and rate leaves."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


class Source(StrEnum):
    """Where a leaf reads its value: the latest telemetry sample or a device attribute."""

    TELEMETRY = "telemetry"
    ATTRIBUTE = "attribute"


class RatePer(StrEnum):
    """Time unit of a rate of change."""

    SECOND = "s"
    MINUTE = "min"


Value: TypeAlias = float | str


@dataclass(frozen=True, slots=True)
class Threshold:
    """`key op value`, on the latest value of a telemetry key or an attribute."""

    key: str
    op: Op
    value: Value
    source: Source = Source.TELEMETRY


@dataclass(frozen=True, slots=True)
class Range:
    """The value lies inside (or outside) the closed interval [lo, hi]."""

    key: str
    lo: float
    hi: float
    inside: bool = True
    source: Source = Source.TELEMETRY


@dataclass(frozen=True, slots=True)
class Duration:
    """Holds when `condition` has held continuously for `duration_s` seconds."""

    condition: Condition
    duration_s: int


@dataclass(frozen=True, slots=True)
class CountInWindow:
    """Holds when at least `count` samples matching `condition` arrived within the last `window_s` s."""

    condition: Threshold | Range
    count: int
    window_s: int


@dataclass(frozen=True, slots=True)
class RateOfChange:
    """(last - first) / elapsed over the samples of the last `window_s` s, compared with `value`."""

    key: str
    op: Op
    value: float
    per: RatePer
    window_s: int


@dataclass(frozen=True, slots=True)
class Deviation:
    """The newest sample is more than sigma * std (or abs_dev) away from the mean of the last `window_s` s."""

    key: str
    window_s: int
    min_samples: int
    sigma: float | None = None
    abs_dev: float | None = None


@dataclass(frozen=True, slots=True)
class NoData:
    """No sample of `key` for `timeout_s` seconds."""

    key: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class Inactive:
    """The device showed no activity (caller-supplied last activity or a sample) for `timeout_s` s."""

    timeout_s: int


@dataclass(frozen=True, slots=True)
class AllOf:
    """AND: every child holds."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """OR: at least one child holds."""

    children: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """NOT: the child does not hold."""

    child: Condition


Condition: TypeAlias = (
    Threshold
    | Range
    | Duration
    | CountInWindow
    | RateOfChange
    | Deviation
    | NoData
    | Inactive
    | AllOf
    | AnyOf
    | Not
)


def compare(op: Op, x: Value, v: Value) -> bool:
    """`x op v`; text compares only for equality, a text value never satisfies an ordering."""
    if isinstance(x, str) or isinstance(v, str):
        if op is Op.EQ:
            return x == v
        if op is Op.NE:
            return x != v
        return False
    if op is Op.GT:
        return x > v
    if op is Op.GE:
        return x >= v
    if op is Op.LT:
        return x < v
    if op is Op.LE:
        return x <= v
    return x == v if op is Op.EQ else x != v


def child_nodes(node: Condition, path: str) -> Iterator[tuple[str, Condition]]:
    """The direct sub-conditions of `node` with their JSON paths."""
    if isinstance(node, AllOf | AnyOf):
        for i, child in enumerate(node.children):
            yield f"{path}.children[{i}]", child
    elif isinstance(node, Not):
        yield f"{path}.child", node.child
    elif isinstance(node, Duration):
        yield f"{path}.condition", node.condition


def walk(node: Condition, path: str) -> Iterator[tuple[str, Condition]]:
    """Every node of the tree in post-order (children before parents), with its JSON path."""
    for child_path, child in child_nodes(node, path):
        yield from walk(child, child_path)
    yield path, node
