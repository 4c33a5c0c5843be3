"""Schemas of telemetry answers; `ts` is UTC epoch milliseconds throughout."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TsValue(BaseModel):
    """A value at an instant; text keys carry strings."""

    ts: int
    value: float | str | None


class LatestPublic(BaseModel):
    """The newest value of each key."""

    device_id: str
    values: dict[str, TsValue]


class RawPointPublic(TsValue):
    """One raw point."""

    key: str


class RawPagePublic(BaseModel):
    """One page of raw points, oldest first; pass `next_cursor` as `cursor` for the next page."""

    device_id: str
    points: list[RawPointPublic]
    next_cursor: str | None


class AggregatePublic(BaseModel):
    """Per key, one row per interval: `ts` (interval start), `count` and each requested aggregate."""

    device_id: str
    interval: str
    agg: list[str]
    series: dict[str, list[dict[str, float | int | None]]] = Field(
        examples=[{"pressure": [{"ts": 1700000000000, "count": 60, "avg": 7.1, "max": 7.4}]}]
    )


class ConsumptionRowPublic(BaseModel):
    """Consumption of a counter over one interval [start, end)."""

    start: int
    end: int
    delta: float
    resets: int


class ConsumptionPublic(BaseModel):
    """Counter consumption per interval."""

    device_id: str
    key: str
    interval: str
    rows: list[ConsumptionRowPublic]
