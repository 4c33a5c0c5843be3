"""The condition page: every monitored machine by health, worst first (docs/condition-monitoring.md).

A machine is monitored when the condition job writes its derived `cm.*` keys; the page reads their latest
values for the whole fleet in two queries and shows health index, remaining useful life with its band,
anomaly score and vibration velocity, so a service team sees which machines to visit first.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from openiiot.web.fleet import device_names
from openiiot.web.framework import CONSOLE_PREFIX, ConsoleRoute, Session, current_session, render, services_of
from openiiot.web.query import int_param

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

KEYS = ("cm.health_index", "cm.rul_h", "cm.rul_low_h", "cm.rul_high_h", "cm.anomaly_score", "cm.velocity_rms")
PAGE = 100
ANOMALY_THRESHOLD = 1.0  # the score is scaled so that 1 is the detector's threshold


@dataclass(frozen=True, slots=True)
class Machine:
    """One monitored machine's latest derived values (keys without the `cm.` prefix)."""

    device_id: str
    values: dict[str, float | None]
    updated_ms: int

    @property
    def health(self) -> float | None:
        """The health index (1 healthy, 0 at the failure level)."""
        return self.values.get("health_index")


def _page(request: Request) -> tuple[dict[str, Any], Session]:
    session = current_session(request)
    services = services_of(request)
    page = int_param(request, "page", 1, 1, 100_000)
    latest = services.telemetry.latest_of_fleet(session.principal, list(KEYS))
    rows = [
        Machine(
            device_id=device_id,
            values={k.removeprefix("cm."): v.value for k, v in values.items()},
            updated_ms=max(v.ts_ms for v in values.values()),
        )
        for device_id, values in latest.items()
    ]
    rows.sort(key=lambda r: (r.health is None, r.health if r.health is not None else math.inf))
    total = len(rows)
    shown = rows[(page - 1) * PAGE : page * PAGE]
    names = device_names(services, session.principal, (r.device_id for r in shown))
    counts = {
        "monitored": total,
        "anomalous": sum(1 for r in rows if (r.values.get("anomaly_score") or 0.0) > ANOMALY_THRESHOLD),
        "poor": sum(1 for r in rows if r.health is not None and r.health < 0.4),
    }
    context = {
        "rows": shown,
        "names": names,
        "counts": counts,
        "page": page,
        "pages": max(1, -(-total // PAGE)),
    }
    return context, session


@router.get("/condition")
async def condition(request: Request) -> Response:
    """Monitored machines, worst health first, with RUL and anomaly score."""
    context, session = await asyncio.to_thread(_page, request)
    return render(request, "condition.html", context, session=session)
