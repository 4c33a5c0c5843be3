"""Alarms: queries, operator actions (acknowledge, clear, reset, shelve, comment) and ISA-18.2 KPIs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.alarms import AlarmActionBody, AlarmCommentBody, AlarmPublic, AlarmShelveBody
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.domain.alarms import Alarm, Severity, alarm_to_dict

router = APIRouter(prefix="/alarms", tags=["alarms"], responses=PROBLEM_RESPONSES)


def _public(alarm: Alarm) -> AlarmPublic:
    return AlarmPublic.model_validate(alarm_to_dict(alarm))


@router.get("", response_model=Page[AlarmPublic])
def list_alarms(
    principal: PrincipalDep,
    services: ServicesDep,
    active: Annotated[bool | None, Query(description="true: open alarms; false: cleared")] = None,
    severity: Severity | None = None,
    device_id: str | None = None,
    from_ms: Annotated[int | None, Query(description="Raised at or after (UTC ms)")] = None,
    to_ms: Annotated[int | None, Query(description="Raised before (UTC ms)")] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[AlarmPublic]:
    """Alarms of the caller's tenant, newest first."""
    items = services.alarms.list_alarms(
        principal,
        active=active,
        severity=None if severity is None else str(severity),
        device_id=device_id,
        from_ms=from_ms,
        to_ms=to_ms,
        offset=offset,
        limit=limit,
    )
    return Page(items=[_public(a) for a in items], offset=offset, limit=limit)


@router.get("/kpis")
def alarm_kpis(
    principal: PrincipalDep,
    services: ServicesDep,
    from_ms: Annotated[int, Query(description="Start of the range (UTC ms)")],
    to_ms: Annotated[int, Query(description="End of the range (UTC ms, exclusive)")],
) -> dict[str, Any]:
    """ISA-18.2 KPIs: rate per 10 min, floods, standing, stale, chattering alarms and top bad actors."""
    return services.alarms.kpis(principal, from_ms, to_ms)


@router.get("/{alarm_id}", response_model=AlarmPublic)
def get_alarm(alarm_id: str, principal: PrincipalDep, services: ServicesDep) -> AlarmPublic:
    """One alarm with its history."""
    return _public(services.alarms.get_alarm(principal, alarm_id))


@router.post("/{alarm_id}/acknowledge", response_model=AlarmPublic)
def acknowledge(
    alarm_id: str, principal: PrincipalDep, services: ServicesDep, body: AlarmActionBody | None = None
) -> AlarmPublic:
    """Acknowledge: the operator has seen it."""
    comment = body.comment if body else None
    return _public(services.alarms.acknowledge(principal, alarm_id, comment))


@router.post("/{alarm_id}/clear", response_model=AlarmPublic)
def clear(
    alarm_id: str, principal: PrincipalDep, services: ServicesDep, body: AlarmActionBody | None = None
) -> AlarmPublic:
    """Clear by hand; a condition still present raises a new alarm."""
    return _public(services.alarms.clear(principal, alarm_id, body.comment if body else None))


@router.post("/{alarm_id}/reset", response_model=AlarmPublic)
def reset(
    alarm_id: str, principal: PrincipalDep, services: ServicesDep, body: AlarmActionBody | None = None
) -> AlarmPublic:
    """Reset a latched alarm whose condition has returned to normal."""
    return _public(services.alarms.reset(principal, alarm_id, body.comment if body else None))


@router.post("/{alarm_id}/shelve", response_model=AlarmPublic)
def shelve(
    alarm_id: str, body: AlarmShelveBody, principal: PrincipalDep, services: ServicesDep
) -> AlarmPublic:
    """Shelve until `until_ms` (at most 7 days)."""
    return _public(services.alarms.shelve(principal, alarm_id, body.until_ms, body.comment))


@router.post("/{alarm_id}/unshelve", response_model=AlarmPublic)
def unshelve(
    alarm_id: str, principal: PrincipalDep, services: ServicesDep, body: AlarmActionBody | None = None
) -> AlarmPublic:
    """End shelving early."""
    return _public(services.alarms.unshelve(principal, alarm_id, body.comment if body else None))


@router.post("/{alarm_id}/comments", response_model=AlarmPublic)
def comment(
    alarm_id: str, body: AlarmCommentBody, principal: PrincipalDep, services: ServicesDep
) -> AlarmPublic:
    """Add a comment to the alarm's history."""
    return _public(services.alarms.comment(principal, alarm_id, body.comment))
