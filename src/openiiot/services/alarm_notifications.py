"""Alarm changes as notification events: what the engine and the operators' actions hand to notifications.

An alarm's history grows by one entry per change. The entries a change added that are worth telling
someone about (raised, escalated, de-escalated, acknowledged, cleared) become `AlarmEvent`s for
`NotificationService.notify`, with the site and device name a message needs. Shelved alarms and alarms
suppressed by maintenance mode notify nobody; their history still records everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from openiiot.domain.alarms import Alarm
from openiiot.domain.alarms.lifecycle import AlarmAction
from openiiot.domain.errors import NotFound
from openiiot.domain.notifications import AlarmEvent, Severity, Transition
from openiiot.services.ports import UnitOfWork

#: receives the events of committed alarm changes; must not block (NotificationService.notify queues)
AlarmEventSink = Callable[[Sequence[AlarmEvent]], None]

_NOTIFIED: dict[AlarmAction, Transition] = {
    AlarmAction.RAISED: Transition.RAISED,
    AlarmAction.REACTIVATED: Transition.RAISED,
    AlarmAction.ESCALATED: Transition.ESCALATED,
    AlarmAction.DEESCALATED: Transition.DEESCALATED,
    AlarmAction.ACKNOWLEDGED: Transition.ACKNOWLEDGED,
    AlarmAction.CLEARED: Transition.CLEARED,
}


def ignore_events(_events: Sequence[AlarmEvent]) -> None:
    """The sink of a process that does not notify."""


def events_of_change(
    before: Alarm | None,
    after: Alarm,
    *,
    site_id: str | None,
    originator_name: str,
    now_ms: int,
) -> list[AlarmEvent]:
    """The notification events of the history entries `after` added to `before`."""
    if not after.should_notify(now_ms):
        return []
    known = len(before.history) if before is not None and before.id == after.id else 0
    events = []
    for entry in after.history[known:]:
        transition = _NOTIFIED.get(entry.action)
        if transition is None:
            continue
        details: dict[str, object] = {"rule_id": after.rule_id, "by": entry.by}
        if entry.comment:
            details["comment"] = entry.comment
        events.append(
            AlarmEvent(
                tenant_id=after.tenant_id,
                site_id=site_id,
                alarm_id=after.id,
                alarm_type=after.alarm_type,
                severity=Severity((entry.severity or after.severity).value),
                transition=transition,
                originator_id=after.originator_id,
                originator_name=originator_name,
                ts_ms=entry.ts_ms,
                details=details,
            )
        )
    return events


def originator_context(uow: UnitOfWork, tenant_id: str, device_id: str) -> tuple[str | None, str]:
    """The site and the display name of an alarm's device (its id when the device is gone)."""
    try:
        device = uow.devices.get(tenant_id, device_id)
    except NotFound:
        return None, device_id
    site_id = None
    if device.asset_id is not None:
        try:
            site_id = uow.assets.get(tenant_id, device.asset_id).site_id
        except NotFound:
            site_id = None
    return site_id, device.label or device.name


def change_events(
    uow: UnitOfWork, changes: Sequence[tuple[Alarm | None, Alarm]], now_ms: int
) -> list[AlarmEvent]:
    """The events of several alarm changes, looking up each originator once."""
    context: dict[tuple[str, str], tuple[str | None, str]] = {}
    events: list[AlarmEvent] = []
    for before, after in changes:
        key = (after.tenant_id, after.originator_id)
        if key not in context:
            context[key] = originator_context(uow, *key)
        site_id, name = context[key]
        events.extend(events_of_change(before, after, site_id=site_id, originator_name=name, now_ms=now_ms))
    return events
