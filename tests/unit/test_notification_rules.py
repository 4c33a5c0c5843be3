"""Notification rules: validation that names the bad field, filters, and quiet hours across time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.notifications import (
    AlarmEvent,
    ChannelKind,
    NotificationMessage,
    NotificationRule,
    QuietHours,
    Severity,
    Transition,
    rules_matching,
)

SECRET = "s3cret-s3cret-s3cret"
WEBHOOK = {"url": "https://ops.example.com/hook", "secret": SECRET}


def ts_ms(text: str) -> int:
    """UTC milliseconds of an ISO timestamp with offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def event(**overrides: Any) -> AlarmEvent:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "site_id": "site-1",
        "alarm_id": "a1",
        "alarm_type": "HighPressure",
        "severity": "major",
        "transition": "raised",
        "originator_id": "dev-1",
        "originator_name": "compressor-1",
        "ts_ms": ts_ms("2026-03-02T12:00:00+00:00"),
    }
    values.update(overrides)
    return AlarmEvent(**values)


def rule(**overrides: Any) -> NotificationRule:
    values: dict[str, Any] = {
        "id": "r1",
        "tenant_id": "t1",
        "name": "ops",
        "channel": "webhook",
        "target": WEBHOOK,
    }
    values.update(overrides)
    return NotificationRule(**values)


def test_a_rule_without_filters_matches_every_event_of_its_tenant_only() -> None:
    r = rule()
    assert rules_matching(event(), [r], "UTC") == [r]
    assert rules_matching(event(tenant_id="t2"), [r], "UTC") == []


@pytest.mark.parametrize(
    ("filters", "matching", "other"),
    [
        ({"site_ids": ["site-1"]}, {"site_id": "site-1"}, {"site_id": "site-2"}),
        ({"site_ids": ["site-1"]}, {"site_id": "site-1"}, {"site_id": None}),
        ({"severities": ["critical", "major"]}, {"severity": "major"}, {"severity": "minor"}),
        ({"alarm_types": ["HighPressure"]}, {"alarm_type": "HighPressure"}, {"alarm_type": "LowOil"}),
        ({"transitions": ["raised"]}, {"transition": "raised"}, {"transition": "cleared"}),
    ],
)
def test_each_filter_selects_events(
    filters: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    r = rule(**filters)
    assert rules_matching(event(**matching), [r], "UTC") == [r]
    assert rules_matching(event(**other), [r], "UTC") == []


def test_filters_combine_with_and_and_disabled_rules_never_match() -> None:
    both = rule(severities=["critical"], alarm_types=["HighPressure"])
    disabled = rule(id="r2", name="off", enabled=False)
    assert rules_matching(event(severity="critical"), [both, disabled], "UTC") == [both]
    assert rules_matching(event(severity="critical", alarm_type="LowOil"), [both, disabled], "UTC") == []


def test_quiet_hours_across_midnight_in_the_tenant_time_zone() -> None:
    r = rule(quiet_hours=QuietHours("22:00", "06:00", critical_passes=False))
    shanghai = "Asia/Shanghai"  # UTC+8: 22:00 local is 14:00 UTC
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T13:59:00+00:00")), [r], shanghai) == [r]
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T14:00:00+00:00")), [r], shanghai) == []
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T18:30:00+00:00")), [r], shanghai) == []  # 02:30
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T21:59:00+00:00")), [r], shanghai) == []  # 05:59
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T22:00:00+00:00")), [r], shanghai) == [r]  # 06:00
    # the same instant is 14:00 in UTC: not quiet there
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T14:00:00+00:00")), [r], "UTC") == [r]


def test_quiet_hours_follow_daylight_saving_time() -> None:
    r = rule(quiet_hours=QuietHours("22:00", "06:00", critical_passes=False))
    berlin = "Europe/Berlin"
    # 21:30 UTC is 22:30 in winter (CET, UTC+1) but 23:30 in summer (CEST); 20:30 UTC is 21:30 / 22:30
    assert rules_matching(event(ts_ms=ts_ms("2026-01-15T20:30:00+00:00")), [r], berlin) == [r]
    assert rules_matching(event(ts_ms=ts_ms("2026-07-15T20:30:00+00:00")), [r], berlin) == []


def test_quiet_hours_within_one_day() -> None:
    r = rule(quiet_hours=QuietHours("12:00", "13:30", critical_passes=False))
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T11:59:00+00:00")), [r], "UTC") == [r]
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T12:45:00+00:00")), [r], "UTC") == []
    assert rules_matching(event(ts_ms=ts_ms("2026-03-02T13:30:00+00:00")), [r], "UTC") == [r]


def test_critical_alarms_pass_quiet_hours_unless_the_rule_says_otherwise() -> None:
    night = ts_ms("2026-03-02T02:00:00+00:00")
    passes = rule(quiet_hours=QuietHours("22:00", "06:00"))
    strict = rule(id="r2", name="strict", quiet_hours=QuietHours("22:00", "06:00", critical_passes=False))
    assert rules_matching(event(ts_ms=night, severity="critical"), [passes, strict], "UTC") == [passes]
    assert rules_matching(event(ts_ms=night, severity="major"), [passes, strict], "UTC") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"channel": "sms"}, "channel"),
        ({"target": {"url": "ftp://x", "secret": SECRET}}, "target.url"),
        ({"target": {"url": "https://x.example", "secret": "short"}}, "target.secret"),
        ({"channel": "email", "target": {"to": []}}, "target.to"),
        ({"channel": "email", "target": {"to": "ops@example.com"}}, "target.to"),
        ({"channel": "email", "target": {"to": ["not-an-address"]}}, "target.to"),
        ({"channel": "mqtt", "target": {"topic_suffix": "ops/#"}}, "target.topic_suffix"),
        ({"channel": "mqtt", "target": {}}, "target.topic_suffix"),
        ({"severities": ["fatal"]}, "severities"),
        ({"transitions": ["opened"]}, "transitions"),
        ({"site_ids": "site-1"}, "site_ids"),
        ({"alarm_types": [""]}, "alarm_types"),
    ],
)
def test_an_invalid_rule_names_the_bad_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        rule(**overrides)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("24:00", "06:00", "quiet_hours.start"),
        ("22:00", "6:00", "quiet_hours.end"),
        ("08:00", "08:00", "quiet_hours"),
    ],
)
def test_invalid_quiet_hours_name_the_bad_field(start: str, end: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        QuietHours(start, end)
    assert info.value.field == field


def test_an_event_with_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        event(severity="fatal")
    assert info.value.field == "severity"


def test_valid_targets_are_normalised_and_enums_coerced() -> None:
    email = rule(channel="email", target={"to": ("a@example.com",)}, severities=("critical",))
    assert email.channel is ChannelKind.EMAIL
    assert email.target == {"to": ["a@example.com"]}
    assert email.severities == (Severity.CRITICAL,)
    assert event(transition="cleared").transition is Transition.CLEARED


def test_event_round_trips_through_its_json_form() -> None:
    original = event(details={"value": 9.5, "threshold": 8})
    assert AlarmEvent.from_dict(original.as_dict()) == original


def test_the_message_subject_and_body_are_bilingual() -> None:
    msg = NotificationMessage(
        delivery_id="d1",
        rule_id="r1",
        rule_name="ops",
        event=event(severity="critical", details={"pressure_bar": 9.5}),
    )
    assert msg.subject() == "[CRITICAL] 告警触发 Alarm raised: HighPressure - compressor-1"
    body = msg.text_body()
    assert "Severity: critical" in body
    assert "级别：紧急" in body  # noqa: RUF001 - Chinese typography uses the full-width colon
    assert "pressure_bar: 9.5" in body
    assert datetime(2026, 3, 2, 12, tzinfo=UTC).strftime("%Y-%m-%d %H:%M") in body
