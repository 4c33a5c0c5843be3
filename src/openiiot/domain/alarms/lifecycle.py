"""The alarm state machine (ISA-18.2 / IEC 62682): active/cleared x unacknowledged/acknowledged, latch,
shelving with expiry, suppression, history. Every function returns a new Alarm; invalid moves raise Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from openiiot.domain.alarms.evaluator import AlarmTransition, TransitionKind
from openiiot.domain.alarms.rules import Severity
from openiiot.domain.errors import Conflict, ValidationFailed

SYSTEM_ACTOR = "system"
MAX_SHELVE_MS = 7 * 86_400_000  # ISA-18.2 wants shelving time-limited; a week is the longest we allow


class AlarmAction(StrEnum):
    """What a history event records."""

    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    CLEARED = "cleared"  # condition returned to normal (by rule) or an operator cleared it
    LATCHED = "latched"  # condition returned to normal; the latch holds the alarm open until reset
    REACTIVATED = "reactivated"  # the condition came back while the alarm was latched
    RESET = "reset"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    SHELVE_EXPIRED = "shelve-expired"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    COMMENTED = "commented"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One line of an alarm's history: who did what, when, with an optional comment."""

    ts_ms: int
    action: AlarmAction
    by: str
    severity: Severity | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Alarm:
    """One occurrence of a rule's alarm on one originator; open while `active`."""

    id: str
    tenant_id: str
    originator_id: str
    rule_id: str
    alarm_type: str
    severity: Severity
    raised_ms: int
    active: bool = True  # open: the condition is present, or the latch holds it
    acknowledged: bool = False
    acknowledged_ms: int | None = None
    cleared_ms: int | None = None
    latching: bool = False
    latched: bool = False  # condition gone, waiting for an operator reset
    shelved_until_ms: int | None = None
    suppressed: bool = False  # the asset is in maintenance: recorded, not notified
    history: tuple[AlarmEvent, ...] = ()

    @property
    def status(self) -> str:
        """`active_unack`, `active_ack`, `cleared_unack` or `cleared_ack`."""
        return f"{'active' if self.active else 'cleared'}_{'ack' if self.acknowledged else 'unack'}"

    def is_shelved(self, now_ms: int) -> bool:
        """Shelved and the shelving has not expired."""
        return self.shelved_until_ms is not None and now_ms < self.shelved_until_ms

    def should_notify(self, now_ms: int) -> bool:
        """Whether changes of this alarm are notified; shelved and suppressed ones are not."""
        return not self.suppressed and not self.is_shelved(now_ms)


def _record(alarm: Alarm, event: AlarmEvent, **changes: Any) -> Alarm:
    return replace(alarm, history=(*alarm.history, event), **changes)


def _actor(by: str) -> str:
    if not by.strip():
        raise ValidationFailed("the acting user must be named", field="by")
    return by


def apply_transition(
    open_alarm: Alarm | None,
    transition: AlarmTransition,
    *,
    new_alarm_id: str,
    tenant_id: str,
    originator_id: str,
    suppressed: bool = False,
) -> Alarm | None:
    """Apply an evaluator transition to the open alarm of (originator, rule), or open a new one.

    `new_alarm_id` is used only when a new alarm opens; `suppressed` (asset in maintenance) marks it so.
    A cleared alarm is never reopened: a new occurrence after clear is a new alarm (re-raise).
    """
    t, sev = transition.ts_ms, transition.severity
    if open_alarm is None or not open_alarm.active:
        if transition.kind is TransitionKind.CLEAR:
            return None
        event = AlarmEvent(t, AlarmAction.RAISED, SYSTEM_ACTOR, sev)
        return Alarm(
            id=new_alarm_id,
            tenant_id=tenant_id,
            originator_id=originator_id,
            rule_id=transition.rule_id,
            alarm_type=transition.alarm_type,
            severity=sev,
            raised_ms=t,
            latching=transition.latching,
            suppressed=suppressed,
            history=(event,),
        )
    alarm = open_alarm
    if transition.kind is TransitionKind.CLEAR:
        if alarm.latched:
            return alarm
        if alarm.latching:
            return _record(
                alarm, AlarmEvent(t, AlarmAction.LATCHED, SYSTEM_ACTOR, alarm.severity), latched=True
            )
        return _record(
            alarm,
            AlarmEvent(t, AlarmAction.CLEARED, SYSTEM_ACTOR, alarm.severity),
            active=False,
            cleared_ms=t,
        )
    if alarm.latched:  # the condition returned before anyone reset the latch: it needs attention again
        event = AlarmEvent(t, AlarmAction.REACTIVATED, SYSTEM_ACTOR, sev)
        return _record(alarm, event, latched=False, severity=sev, acknowledged=False, acknowledged_ms=None)
    if (
        sev.rank > alarm.severity.rank
    ):  # a worse state must be seen again: escalation re-opens acknowledgement
        event = AlarmEvent(t, AlarmAction.ESCALATED, SYSTEM_ACTOR, sev)
        return _record(alarm, event, severity=sev, acknowledged=False, acknowledged_ms=None)
    if sev.rank < alarm.severity.rank:
        return _record(alarm, AlarmEvent(t, AlarmAction.DEESCALATED, SYSTEM_ACTOR, sev), severity=sev)
    return alarm


def acknowledge(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """The operator has seen it; allowed while active and after return to normal (ISA 'unack RTN')."""
    if alarm.acknowledged:
        raise Conflict(f"alarm {alarm.id} is already acknowledged", field="acknowledged")
    event = AlarmEvent(now_ms, AlarmAction.ACKNOWLEDGED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, acknowledged=True, acknowledged_ms=now_ms)


def clear(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """Manual clear. A latching alarm clears (resets) only once its condition is gone.

    Clearing a non-latching alarm whose condition is still present is allowed (the device may be gone),
    but the caller must then `release_alarm` the rule state, so a persisting condition raises a new alarm.
    """
    if not alarm.active:
        raise Conflict(f"alarm {alarm.id} is already cleared", field="active")
    if alarm.latching and not alarm.latched:
        raise Conflict(
            f"alarm {alarm.id} is latching and its condition is still present; "
            "it can be reset once the condition returns to normal",
            field="latched",
        )
    action = AlarmAction.RESET if alarm.latched else AlarmAction.CLEARED
    event = AlarmEvent(now_ms, action, _actor(by), alarm.severity, comment)
    return _record(alarm, event, active=False, latched=False, cleared_ms=now_ms, shelved_until_ms=None)


def retire(alarm: Alarm, by: str, now_ms: int, comment: str) -> Alarm:
    """Clear an open alarm whose rule was deleted, latched or not: no evaluation can clear it any more."""
    event = AlarmEvent(now_ms, AlarmAction.CLEARED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, active=False, latched=False, cleared_ms=now_ms, shelved_until_ms=None)


def reset(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """Operator reset of a latched alarm whose condition has returned to normal."""
    if not alarm.latched:
        raise Conflict(
            f"alarm {alarm.id} is not latched; only a latching alarm whose condition has returned "
            "to normal can be reset",
            field="latched",
        )
    return clear(alarm, by, now_ms, comment)


def shelve(alarm: Alarm, by: str, now_ms: int, until_ms: int, comment: str | None = None) -> Alarm:
    """Temporarily take a nuisance alarm off the operator's screen until `until_ms` (at most a week)."""
    if not alarm.active:
        raise Conflict(f"alarm {alarm.id} is cleared; only an open alarm can be shelved", field="active")
    if alarm.is_shelved(now_ms):
        raise Conflict(
            f"alarm {alarm.id} is already shelved until {alarm.shelved_until_ms}", field="shelved_until_ms"
        )
    if not now_ms < until_ms <= now_ms + MAX_SHELVE_MS:
        raise ValidationFailed("shelving must end after now and within 7 days", field="shelved_until_ms")
    event = AlarmEvent(now_ms, AlarmAction.SHELVED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, shelved_until_ms=until_ms)


def unshelve(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """End shelving before it expires."""
    if not alarm.is_shelved(now_ms):
        raise Conflict(f"alarm {alarm.id} is not shelved", field="shelved_until_ms")
    event = AlarmEvent(now_ms, AlarmAction.UNSHELVED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, shelved_until_ms=None)


def expire_shelving(alarm: Alarm, now_ms: int) -> Alarm:
    """Unshelve automatically once the shelving time has passed; otherwise the alarm is unchanged."""
    if alarm.shelved_until_ms is None or now_ms < alarm.shelved_until_ms:
        return alarm
    event = AlarmEvent(alarm.shelved_until_ms, AlarmAction.SHELVE_EXPIRED, SYSTEM_ACTOR, alarm.severity)
    return _record(alarm, event, shelved_until_ms=None)


def suppress(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """Suppress by maintenance: changes are still recorded, notifications are not sent."""
    if alarm.suppressed:
        raise Conflict(f"alarm {alarm.id} is already suppressed", field="suppressed")
    if not alarm.active:
        raise Conflict(f"alarm {alarm.id} is cleared; only an open alarm can be suppressed", field="active")
    event = AlarmEvent(now_ms, AlarmAction.SUPPRESSED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, suppressed=True)


def unsuppress(alarm: Alarm, by: str, now_ms: int, comment: str | None = None) -> Alarm:
    """End suppression (maintenance over); the alarm is announced again from its current state."""
    if not alarm.suppressed:
        raise Conflict(f"alarm {alarm.id} is not suppressed", field="suppressed")
    event = AlarmEvent(now_ms, AlarmAction.UNSUPPRESSED, _actor(by), alarm.severity, comment)
    return _record(alarm, event, suppressed=False)


def add_comment(alarm: Alarm, by: str, now_ms: int, comment: str) -> Alarm:
    """Add an operator comment to the history."""
    if not comment.strip() or len(comment) > 4000:
        raise ValidationFailed("a comment must be 1-4000 characters", field="comment")
    return _record(alarm, AlarmEvent(now_ms, AlarmAction.COMMENTED, _actor(by), None, comment))


def alarm_to_dict(alarm: Alarm) -> dict[str, Any]:
    """JSON-compatible form of an alarm with its history."""
    out: dict[str, Any] = {
        name: getattr(alarm, name) for name in Alarm.__dataclass_fields__ if name != "history"
    }
    out["severity"] = alarm.severity.value
    out["history"] = [
        {"ts_ms": e.ts_ms, "action": e.action.value, "by": e.by,
         "severity": None if e.severity is None else e.severity.value, "comment": e.comment}
        for e in alarm.history
    ]  # fmt: skip
    return out


def alarm_from_dict(raw: dict[str, Any]) -> Alarm:
    """Inverse of `alarm_to_dict`."""
    fields = {name: raw[name] for name in Alarm.__dataclass_fields__ if name not in ("history", "severity")}
    history = tuple(
        AlarmEvent(
            int(e["ts_ms"]),
            AlarmAction(e["action"]),
            str(e["by"]),
            None if e["severity"] is None else Severity(e["severity"]),
            e["comment"],
        )
        for e in raw["history"]
    )
    return Alarm(severity=Severity(raw["severity"]), history=history, **fields)
