"""Notifications of alarm events: the event, notification rules with quiet hours, and rule matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import validate_timezone


class Severity(StrEnum):
    """Alarm severity, most severe first (ISA-18.2 priorities as ThingsBoard users name them)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class Transition(StrEnum):
    """What happened to the alarm."""

    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class ChannelKind(StrEnum):
    """How a notification travels."""

    WEBHOOK = "webhook"
    EMAIL = "email"
    MQTT = "mqtt"


def _coerce_enum(obj: object, name: str, enum: type[StrEnum]) -> None:
    value = getattr(obj, name)
    try:
        object.__setattr__(obj, name, enum(value))
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum)
        raise ValidationFailed(f"{name} must be one of {allowed}, not {value!r}", field=name) from exc


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm changed state; what the alarm engine hands to `NotificationService.notify`."""

    tenant_id: str
    site_id: str | None
    alarm_id: str
    alarm_type: str
    severity: Severity
    transition: Transition
    originator_id: str
    originator_name: str
    ts_ms: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the engine may pass plain strings or its own enums with the same values
        _coerce_enum(self, "severity", Severity)
        _coerce_enum(self, "transition", Transition)

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values (the webhook and MQTT payload)."""
        return {
            "tenant_id": self.tenant_id,
            "site_id": self.site_id,
            "alarm_id": self.alarm_id,
            "alarm_type": self.alarm_type,
            "severity": self.severity.value,
            "transition": self.transition.value,
            "originator_id": self.originator_id,
            "originator_name": self.originator_name,
            "ts_ms": self.ts_ms,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlarmEvent:
        """The inverse of `as_dict` (pending deliveries are stored as JSON)."""
        return cls(**{**data, "details": dict(data.get("details") or {})})


_SEVERITY_ZH = {"critical": "紧急", "major": "重要", "minor": "次要", "warning": "警告"}
_ZH_COLON = "\uff1a"  # the full-width colon of Chinese typography
_TRANSITION_ZH = {
    "raised": "触发",
    "escalated": "升级",
    "deescalated": "降级",
    "acknowledged": "已确认",
    "cleared": "已清除",
}


@dataclass(frozen=True, slots=True)
class NotificationMessage:
    """One notification of one event by one rule; `delivery_id` is stable across retries."""

    delivery_id: str
    rule_id: str
    rule_name: str
    event: AlarmEvent

    def as_dict(self) -> dict[str, Any]:
        """The JSON document sent to webhooks and MQTT; receivers de-duplicate retries by `delivery_id`."""
        return {
            "delivery_id": self.delivery_id,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "alarm": self.event.as_dict(),
        }

    def subject(self) -> str:
        """A bilingual one-line subject, e.g. `[CRITICAL] 告警触发 Alarm raised: HighPressure - pump-1`."""
        ev = self.event
        return (
            f"[{ev.severity.value.upper()}] 告警{_TRANSITION_ZH[ev.transition.value]} "
            f"Alarm {ev.transition.value}: {ev.alarm_type} - {ev.originator_name}"
        )

    def text_body(self) -> str:
        """A plain-text body in English, then Simplified Chinese."""
        ev = self.event
        when = datetime.fromtimestamp(ev.ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        device = f"{ev.originator_name} ({ev.originator_id})"
        english = [
            (f"Alarm {ev.transition.value}", ev.alarm_type),
            ("Severity", ev.severity.value),
            ("Device", device),
            ("Time", when),
            ("Alarm id", ev.alarm_id),
            ("Rule", self.rule_name),
        ]
        chinese = [
            (f"告警{_TRANSITION_ZH[ev.transition.value]}", ev.alarm_type),
            ("级别", _SEVERITY_ZH[ev.severity.value]),
            ("设备", device),
            ("时间", when),
            ("告警编号", ev.alarm_id),
            ("通知规则", self.rule_name),
        ]
        details = "".join(f"  {key}: {value}\n" for key, value in sorted(ev.details.items()))
        return (
            "".join(f"{label}: {value}\n" for label, value in english)
            + (f"Details:\n{details}" if details else "")
            + "\n"
            + "".join(f"{label}{_ZH_COLON}{value}\n" for label, value in chinese)
        )


_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}(/[A-Za-z0-9_.\-]{1,64}){0,3}$")
MIN_SECRET_CHARS = 16


def _parse_hhmm(value: str, field_name: str) -> time:
    match = _HHMM_RE.match(value)
    if match is None:
        raise ValidationFailed(f"{field_name} must be HH:MM (00:00-23:59), not {value!r}", field=field_name)
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in the tenant's time zone without notifications; `start` > `end` spans midnight."""

    start: str  # "HH:MM", inclusive
    end: str  # "HH:MM", exclusive
    critical_passes: bool = True  # a critical alarm is still sent during quiet hours

    def __post_init__(self) -> None:
        if _parse_hhmm(self.start, "quiet_hours.start") == _parse_hhmm(self.end, "quiet_hours.end"):
            raise ValidationFailed("quiet hours must not start and end at the same time", field="quiet_hours")

    def contains(self, local: time) -> bool:
        """True when the local wall-clock time falls in the window."""
        start, end = _parse_hhmm(self.start, "start"), _parse_hhmm(self.end, "end")
        now = local.replace(second=0, microsecond=0, tzinfo=None)
        if start < end:
            return start <= now < end
        return now >= start or now < end

    def silences(self, event: AlarmEvent, tz: ZoneInfo) -> bool:
        """True when this event must not be sent because of the window."""
        if self.critical_passes and event.severity is Severity.CRITICAL:
            return False
        return self.contains(datetime.fromtimestamp(event.ts_ms / 1000, tz=tz).time())


def _validate_target(kind: ChannelKind, target: Mapping[str, Any]) -> dict[str, Any]:
    if kind is ChannelKind.WEBHOOK:
        url, secret = target.get("url"), target.get("secret")
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise ValidationFailed("a webhook needs an http(s) url", field="target.url")
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
            raise ValidationFailed(
                f"a webhook needs a secret of at least {MIN_SECRET_CHARS} characters", field="target.secret"
            )
        return {"url": url, "secret": secret}
    if kind is ChannelKind.EMAIL:
        to = target.get("to")
        if isinstance(to, str) or not isinstance(to, Sequence) or not to:
            raise ValidationFailed("an email rule needs a list of addresses in `to`", field="target.to")
        for address in to:
            if not isinstance(address, str) or not _EMAIL_RE.match(address):
                raise ValidationFailed(f"{address!r} is not an email address", field="target.to")
        return {"to": list(to)}
    suffix = target.get("topic_suffix")
    if not isinstance(suffix, str) or not _TOPIC_SEGMENT_RE.match(suffix):
        raise ValidationFailed(
            "topic_suffix must be 1-4 levels of letters, digits, '_', '.', '-' (no wildcards)",
            field="target.topic_suffix",
        )
    return {"topic_suffix": suffix}


def _tuple_of(obj: object, name: str, enum: type[StrEnum] | None = None) -> None:
    values = getattr(obj, name)
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationFailed(f"{name} must be a list", field=name)
    items = tuple(values)
    if enum is not None:
        allowed = {m.value for m in enum}
        for item in items:
            if item not in allowed:
                raise ValidationFailed(f"{name} must contain only {', '.join(sorted(allowed))}", field=name)
        items = tuple(enum(item) for item in items)
    elif not all(isinstance(item, str) and item for item in items):
        raise ValidationFailed(f"{name} must contain only non-empty strings", field=name)
    object.__setattr__(obj, name, items)


@dataclass(frozen=True, slots=True)
class NotificationRule:
    """Who hears about which alarm events, and how. An empty filter matches everything."""

    id: str
    tenant_id: str
    name: str
    channel: ChannelKind
    target: Mapping[str, Any]
    site_ids: tuple[str, ...] = ()
    severities: tuple[Severity, ...] = ()
    alarm_types: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] = ()
    quiet_hours: QuietHours | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("rule name must not be empty", field="name")
        if len(self.name) > 200:
            raise ValidationFailed("rule name must be at most 200 characters", field="name")
        _coerce_enum(self, "channel", ChannelKind)
        if not isinstance(self.target, Mapping):
            raise ValidationFailed("target must be an object", field="target")
        object.__setattr__(self, "target", _validate_target(self.channel, self.target))
        _tuple_of(self, "site_ids")
        _tuple_of(self, "severities", Severity)
        _tuple_of(self, "alarm_types")
        _tuple_of(self, "transitions", Transition)

    def matches(self, event: AlarmEvent, tz: ZoneInfo) -> bool:
        """True when this rule sends a notification of the event now."""
        return (
            self.enabled
            and event.tenant_id == self.tenant_id
            and (not self.site_ids or event.site_id in self.site_ids)
            and (not self.severities or event.severity in self.severities)
            and (not self.alarm_types or event.alarm_type in self.alarm_types)
            and (not self.transitions or event.transition in self.transitions)
            and not (self.quiet_hours is not None and self.quiet_hours.silences(event, tz))
        )


def rules_matching(
    event: AlarmEvent, rules: Iterable[NotificationRule], tz: str | ZoneInfo
) -> list[NotificationRule]:
    """The rules that notify of `event`; quiet hours are judged at the event time in `tz` (the tenant's)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(validate_timezone(tz))
    return [rule for rule in rules if rule.matches(event, zone)]
