"""Telemetry of a device: latest values, raw pages, aggregates and counter consumption."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openiiot.api.deps import PrincipalDep, ServicesDep, split_csv
from openiiot.api.schemas.common import PROBLEM_RESPONSES
from openiiot.api.schemas.telemetry import (
    AggregatePublic,
    ConsumptionPublic,
    ConsumptionRowPublic,
    LatestPublic,
    RawPagePublic,
    RawPointPublic,
    TsValue,
)
from openiiot.domain.telemetry import AggregateRow
from openiiot.services.telemetry_queries import parse_aggregates

router = APIRouter(prefix="/devices/{device_id}", tags=["telemetry"], responses=PROBLEM_RESPONSES)

KeysQuery = Annotated[str | None, Query(description="Comma-separated keys; all keys when omitted")]
InstantQuery = Annotated[
    str | None, Query(description="Epoch milliseconds or ISO 8601 (no offset = tenant time)")
]


def _value(value: float | None, text: str | None) -> float | str | None:
    return text if value is None and text is not None else value


def _row(row: AggregateRow) -> dict[str, float | int | None]:
    return {"ts": row.start_ms, "count": row.count, **row.values}


@router.get("/telemetry/latest", response_model=LatestPublic)
def latest(
    device_id: str, principal: PrincipalDep, services: ServicesDep, keys: KeysQuery = None
) -> LatestPublic:
    """The newest value of each key."""
    found = services.telemetry.latest(principal, device_id, split_csv(keys))
    values = {k: TsValue(ts=v.ts_ms, value=_value(v.value, v.text)) for k, v in found.items()}
    return LatestPublic(device_id=device_id, values=values)


@router.get("/telemetry", response_model=RawPagePublic | AggregatePublic)
def telemetry(
    device_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    keys: KeysQuery = None,
    start: InstantQuery = None,
    end: InstantQuery = None,
    interval: Annotated[
        str | None, Query(description="1m, 15m, 1h, 1d, 1w, 1mo: aggregate; none: raw")
    ] = None,
    agg: Annotated[str | None, Query(description="Comma-separated: avg,min,max,sum,count,first,last")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Raw points per page")] = 1000,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> RawPagePublic | AggregatePublic:
    """Raw points (paged) without `interval`; aggregates per interval in the tenant's time zone with it."""
    key_list = split_csv(keys)
    if interval is None:
        page = services.telemetry.raw(
            principal, device_id, keys=key_list, start=start, end=end, limit=limit, cursor=cursor
        )
        points = [RawPointPublic(key=p.key, ts=p.ts_ms, value=_value(p.value, p.text)) for p in page.points]
        return RawPagePublic(device_id=device_id, points=points, next_cursor=page.next_cursor)
    functions = parse_aggregates(split_csv(agg))
    series = services.telemetry.aggregate(
        principal,
        device_id,
        keys=key_list or [],
        interval=interval,
        aggregates=[f.value for f in functions],
        start=start,
        end=end,
    )
    return AggregatePublic(
        device_id=device_id,
        interval=interval,
        agg=[f.value for f in functions],
        series={key: [_row(r) for r in rows] for key, rows in series.items()},
    )


@router.get("/consumption", response_model=ConsumptionPublic)
def consumption(
    device_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    key: Annotated[str, Query(description="A counter key, e.g. energy_kwh")],
    start: InstantQuery = None,
    end: InstantQuery = None,
    interval: Annotated[str, Query(description="1h, 1d, 1w or 1mo")] = "1d",
) -> ConsumptionPublic:
    """Consumption of a counter per interval, with meter resets handled."""
    rows = services.telemetry.consumption(
        principal, device_id, key=key, interval=interval, start=start, end=end
    )
    return ConsumptionPublic(
        device_id=device_id,
        key=key,
        interval=interval,
        rows=[
            ConsumptionRowPublic(start=r.start_ms, end=r.end_ms, delta=r.delta, resets=r.resets) for r in rows
        ],
    )
