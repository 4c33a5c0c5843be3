"""Contract of the notification repository: memory fake, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.contract.metadata_fixtures import METADATA_BACKENDS, MetadataBackend, open_metadata_backend

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.model import Tenant
from openiiot.domain.notification_deliveries import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)
from openiiot.domain.notifications import AlarmEvent, ChannelKind, NotificationRule, QuietHours


@pytest.fixture(params=METADATA_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    extra = (
        {"postgres_url": request.getfixturevalue("postgres_database")} if request.param == "postgres" else {}
    )
    with open_metadata_backend(request.param, tmp_path, **extra) as opened:
        with opened.uow() as uow:
            uow.tenants.add(Tenant(id="t-a", name="Acme"))
            uow.tenants.add(Tenant(id="t-b", name="Beta"))
            uow.commit()
        yield opened


def rule(rule_id: str = "r1", tenant_id: str = "t-a", name: str = "ops") -> NotificationRule:
    return NotificationRule(
        id=rule_id,
        tenant_id=tenant_id,
        name=name,
        channel=ChannelKind.WEBHOOK,
        target={"url": "https://ops.example.com/hook", "secret": "0123456789abcdef"},
        site_ids=("s-1",),
        severities=("critical", "major"),
        alarm_types=("HighPressure",),
        transitions=("raised", "cleared"),
        quiet_hours=QuietHours("22:00", "06:00", critical_passes=False),
    )


EVENT = AlarmEvent(
    tenant_id="t-a",
    site_id=None,
    alarm_id="al-1",
    alarm_type="HighPressure",
    severity="major",
    transition="raised",
    originator_id="d-1",
    originator_name="C-101",
    ts_ms=1_700_000_000_000,
    details={"value": 9.5, "nested": {"k": [1, 2]}},
)


def test_rules_read_back_equal_and_stay_in_their_tenant(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.notifications.add_rule(rule())
        uow.notifications.add_rule(rule("r2", tenant_id="t-b"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.notifications.get_rule("t-a", "r1") == rule()
        assert uow.notifications.get_rule(None, "r2") == rule("r2", tenant_id="t-b")
        with pytest.raises(NotFound):
            uow.notifications.get_rule("t-a", "r2")
        with pytest.raises(NotFound):
            uow.notifications.delete_rule("t-a", "r2")
        with pytest.raises(NotFound):
            uow.notifications.update_rule(replace(rule("r2"), name="stolen"))
        assert [r.id for r in uow.notifications.list_rules("t-a")] == ["r1"]
        assert len(uow.notifications.list_rules(None)) == 2


def test_rule_names_are_unique_per_tenant_and_disabled_rules_can_be_left_out(
    backend: MetadataBackend,
) -> None:
    with backend.uow() as uow:
        uow.notifications.add_rule(rule())
        uow.notifications.add_rule(rule("r2", tenant_id="t-b"))  # same name, other tenant
        with pytest.raises(Conflict) as info:
            uow.notifications.add_rule(rule("r3"))
        assert info.value.field == "name"
        uow.notifications.update_rule(replace(rule(), enabled=False, quiet_hours=None))
        uow.commit()
    with backend.uow() as uow:
        assert uow.notifications.get_rule("t-a", "r1").quiet_hours is None
        assert uow.notifications.list_rules("t-a", enabled_only=True) == []
        uow.notifications.delete_rule("t-a", "r1")
        uow.commit()
    with backend.uow() as uow:
        assert uow.notifications.list_rules("t-a") == []


def test_deliveries_are_saved_replaced_listed_and_deleted(backend: MetadataBackend) -> None:
    delivery = Delivery(
        id="dl-1",
        tenant_id="t-a",
        rule_id="r1",
        rule_name="ops",
        channel=ChannelKind.EMAIL,
        target={"to": ["ops@example.com"]},
        event=EVENT,
        created_ms=1,
        next_attempt_ms=5,
    )
    with backend.uow() as uow:
        uow.notifications.save_delivery(delivery)
        uow.notifications.save_delivery(replace(delivery, id="dl-2", tenant_id="t-b", created_ms=2))
        uow.commit()
    dead = replace(delivery, attempts=3, status=DeliveryStatus.DEAD_LETTER, last_error="HTTP 500")
    with backend.uow() as uow:
        assert uow.notifications.list_deliveries("t-a") == [delivery]
        uow.notifications.save_delivery(dead)
        uow.commit()
    with backend.uow() as uow:
        assert uow.notifications.list_deliveries(None, status=DeliveryStatus.DEAD_LETTER) == [dead]
        assert [d.id for d in uow.notifications.list_deliveries(None, status=DeliveryStatus.PENDING)] == [
            "dl-2"
        ]
        uow.notifications.delete_delivery("dl-1")
        uow.notifications.delete_delivery("missing")
        uow.commit()
    with backend.uow() as uow:
        assert uow.notifications.list_deliveries("t-a") == []


def test_attempts_are_listed_newest_first_by_tenant_and_filters(backend: MetadataBackend) -> None:
    def attempt(n: int, tenant_id: str = "t-a", delivery_id: str = "dl-1") -> DeliveryAttempt:
        return DeliveryAttempt(
            id=f"at-{tenant_id}-{delivery_id}-{n}",
            tenant_id=tenant_id,
            delivery_id=delivery_id,
            rule_id="r1",
            alarm_id="al-1",
            channel=ChannelKind.WEBHOOK,
            target="https://ops.example.com/hook",
            attempt=n,
            outcome=AttemptOutcome.RETRY if n < 2 else AttemptOutcome.DELIVERED,
            ts_ms=1000 * n,
            duration_ms=12.5,
            status_code=500 if n < 2 else 200,
            error="HTTP 500" if n < 2 else None,
        )

    with backend.uow() as uow:
        for item in (attempt(1), attempt(2), attempt(1, "t-b"), attempt(1, delivery_id="dl-9")):
            uow.notifications.record_attempt(item)
        uow.commit()
    with backend.uow() as uow:
        listed = uow.notifications.list_attempts("t-a", delivery_id="dl-1")
        assert listed == [attempt(2), attempt(1)]
        assert len(uow.notifications.list_attempts("t-a")) == 3
        assert len(uow.notifications.list_attempts(None)) == 4
        assert uow.notifications.list_attempts("t-b", alarm_id="other") == []
        assert len(uow.notifications.list_attempts("t-a", limit=1)) == 1
