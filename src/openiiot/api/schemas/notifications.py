"""Schemas of notification rules, pending/dead-lettered deliveries and the attempt log."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from openiiot.api.schemas.common import InputModel, PublicModel
from openiiot.domain.notifications import ChannelKind, Severity, Transition


class QuietHoursBody(InputModel):
    """A daily window (tenant's local time) without notifications; critical alarms pass unless told not."""

    start: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["22:00"])
    end: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["06:00"])
    critical_passes: bool = True


class NotificationRuleCreate(InputModel):
    """Who hears about which alarm events, and how; an empty filter matches everything.

    `target` by channel: webhook `{"url", "secret"}` (secret ≥ 16 characters, signs the body with
    HMAC-SHA256), email `{"to": [addresses]}`, mqtt `{"topic_suffix"}` (published under
    `<prefix>/<tenant id>/<suffix>`).
    """

    name: str = Field(min_length=1, max_length=200)
    channel: ChannelKind
    target: dict[str, Any]
    site_ids: list[str] = []
    severities: list[Severity] = []
    alarm_types: list[str] = []
    transitions: list[Transition] = []
    quiet_hours: QuietHoursBody | None = None
    enabled: bool = True
    tenant_id: str | None = Field(None, description="Only for platform admins: the owning tenant")


class NotificationRuleUpdate(InputModel):
    """Change some fields of a rule; a webhook target without `secret` keeps the stored secret."""

    name: str | None = Field(None, min_length=1, max_length=200)
    channel: ChannelKind | None = None
    target: dict[str, Any] | None = None
    site_ids: list[str] | None = None
    severities: list[Severity] | None = None
    alarm_types: list[str] | None = None
    transitions: list[Transition] | None = None
    quiet_hours: QuietHoursBody | None = None
    enabled: bool | None = None


class QuietHoursPublic(PublicModel):
    """A quiet-hours window."""

    start: str
    end: str
    critical_passes: bool


class NotificationRulePublic(PublicModel):
    """A notification rule; a webhook secret shows as `********`."""

    id: str
    tenant_id: str
    name: str
    channel: str
    target: dict[str, Any]
    site_ids: list[str]
    severities: list[str]
    alarm_types: list[str]
    transitions: list[str]
    quiet_hours: QuietHoursPublic | None
    enabled: bool


class DeliveryPublic(PublicModel):
    """A delivery waiting for its next attempt, or a dead letter."""

    id: str
    tenant_id: str
    rule_id: str
    rule_name: str
    channel: str
    event: dict[str, Any]
    created_ms: int
    next_attempt_ms: int
    attempts: int
    status: str
    last_error: str | None


class AttemptPublic(PublicModel):
    """One delivery attempt: where to, how it went, how long it took."""

    id: str
    delivery_id: str
    rule_id: str
    alarm_id: str
    channel: str
    target: str
    attempt: int
    outcome: str
    ts_ms: int
    duration_ms: float
    status_code: int | None
    error: str | None
