"""Schemas of alarm rules and alarms."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from openiiot.api.schemas.common import InputModel, PublicModel


class AlarmRuleCreate(InputModel):
    """A new alarm rule on a device profile or on an asset (one of the two); `rule` is the rule JSON
    (docs/alarms.md), its id is assigned. An asset's rule applies to every device on the asset or below it."""

    profile_id: str | None = Field(None, min_length=1, max_length=64)
    asset_id: str | None = Field(None, min_length=1, max_length=64)
    rule: dict[str, Any]
    enabled: bool = True
    tenant_id: str | None = Field(None, description="Only for platform admins: the owning tenant")


class AlarmRuleUpdate(InputModel):
    """Replace a rule's definition and/or enable or disable it."""

    rule: dict[str, Any] | None = None
    enabled: bool | None = None


class AlarmRulePublic(PublicModel):
    """An alarm rule of a device profile or of an asset."""

    id: str
    tenant_id: str
    profile_id: str | None
    asset_id: str | None
    rule: dict[str, Any]
    enabled: bool


class AlarmActionBody(InputModel):
    """An operator action with an optional comment."""

    comment: str | None = Field(None, max_length=2000)


class AlarmShelveBody(InputModel):
    """Shelve until a time (UTC ms), at most 7 days ahead."""

    until_ms: int
    comment: str | None = Field(None, max_length=2000)


class AlarmCommentBody(InputModel):
    """A comment for the alarm's history."""

    comment: str = Field(min_length=1, max_length=2000)


class AlarmEventPublic(PublicModel):
    """One entry of an alarm's history."""

    ts_ms: int
    action: str
    by: str
    severity: str | None
    comment: str | None


class AlarmPublic(PublicModel):
    """An alarm and its history; `active` false means cleared."""

    id: str
    tenant_id: str
    originator_id: str
    rule_id: str
    alarm_type: str
    severity: str
    raised_ms: int
    active: bool
    acknowledged: bool
    acknowledged_ms: int | None
    cleared_ms: int | None
    latching: bool
    latched: bool
    shelved_until_ms: int | None
    suppressed: bool
    history: list[AlarmEventPublic]
