"""SQL repository of notification rules, deliveries and delivery attempts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.notification_deliveries import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)
from openiiot.domain.notifications import AlarmEvent, ChannelKind, NotificationRule, QuietHours
from openiiot.storage.sql.repository_base import SqlRepository, check_page
from openiiot.storage.sql.tables import (
    NotificationAttemptRow,
    NotificationDeliveryRow,
    NotificationRuleRow,
    TenantRow,
)


def _rule_values(rule: NotificationRule) -> dict[str, Any]:
    quiet = rule.quiet_hours
    return {
        "id": rule.id,
        "tenant_id": rule.tenant_id,
        "name": rule.name,
        "channel": rule.channel.value,
        "target": dict(rule.target),
        "site_ids": list(rule.site_ids),
        "severities": [s.value for s in rule.severities],
        "alarm_types": list(rule.alarm_types),
        "transitions": [t.value for t in rule.transitions],
        "quiet_start": None if quiet is None else quiet.start,
        "quiet_end": None if quiet is None else quiet.end,
        "quiet_critical_passes": True if quiet is None else quiet.critical_passes,
        "enabled": rule.enabled,
    }


def _rule(row: NotificationRuleRow) -> NotificationRule:
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = QuietHours(row.quiet_start, row.quiet_end, row.quiet_critical_passes)
    return NotificationRule(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        channel=ChannelKind(row.channel),
        target=row.target,
        site_ids=tuple(row.site_ids),
        severities=tuple(row.severities),  # type: ignore[arg-type]  # coerced by the rule
        alarm_types=tuple(row.alarm_types),
        transitions=tuple(row.transitions),  # type: ignore[arg-type]
        quiet_hours=quiet,
        enabled=row.enabled,
    )


def _delivery_values(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "tenant_id": delivery.tenant_id,
        "rule_id": delivery.rule_id,
        "rule_name": delivery.rule_name,
        "channel": delivery.channel.value,
        "target": dict(delivery.target),
        "event": delivery.event.as_dict(),
        "created_ms": delivery.created_ms,
        "next_attempt_ms": delivery.next_attempt_ms,
        "attempts": delivery.attempts,
        "status": delivery.status.value,
        "last_error": delivery.last_error,
    }


def _delivery(row: NotificationDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        channel=ChannelKind(row.channel),
        target=row.target,
        event=AlarmEvent.from_dict(row.event),
        created_ms=row.created_ms,
        next_attempt_ms=row.next_attempt_ms,
        attempts=row.attempts,
        status=DeliveryStatus(row.status),
        last_error=row.last_error,
    )


def _attempt(row: NotificationAttemptRow) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=row.id,
        tenant_id=row.tenant_id,
        delivery_id=row.delivery_id,
        rule_id=row.rule_id,
        alarm_id=row.alarm_id,
        channel=ChannelKind(row.channel),
        target=row.target,
        attempt=row.attempt,
        outcome=AttemptOutcome(row.outcome),
        ts_ms=row.ts_ms,
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        error=row.error,
    )


class SqlNotificationRepository(SqlRepository):
    """Notification rules (names unique per tenant), deliveries and the attempt log in SQL."""

    def add_rule(self, rule: NotificationRule) -> None:
        """Store a new rule; Conflict when the id or the name is taken."""
        if self._exists(NotificationRuleRow, rule.id):
            raise Conflict(f"notification rule {rule.id} already exists", field="id")
        if not self._exists(TenantRow, rule.tenant_id):
            raise NotFound("tenant", rule.tenant_id)
        self._check_name(rule)
        self._session.add(NotificationRuleRow(**_rule_values(rule)))
        self._flush()

    def get_rule(self, tenant_id: str | None, rule_id: str) -> NotificationRule:
        """The rule, or NotFound when it does not exist in the scope."""
        return _rule(self._scoped_get(NotificationRuleRow, "notification rule", tenant_id, rule_id))

    def list_rules(
        self, tenant_id: str | None, *, enabled_only: bool = False, offset: int = 0, limit: int = 100
    ) -> list[NotificationRule]:
        """Rules in the scope ordered by name."""
        stmt = select(NotificationRuleRow).order_by(NotificationRuleRow.name, NotificationRuleRow.id)
        if tenant_id is not None:
            stmt = stmt.where(NotificationRuleRow.tenant_id == tenant_id)
        if enabled_only:
            stmt = stmt.where(NotificationRuleRow.enabled.is_(True))
        return [_rule(r) for r in self._page(stmt, offset, limit)]

    def update_rule(self, rule: NotificationRule) -> None:
        """Replace a rule's fields; the tenant cannot change."""
        row = self._scoped_get(NotificationRuleRow, "notification rule", rule.tenant_id, rule.id)
        self._check_name(rule)
        for name, value in _rule_values(rule).items():
            setattr(row, name, value)
        self._flush()

    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None:
        """Delete a rule; its attempts and pending deliveries stay."""
        self._session.delete(self._scoped_get(NotificationRuleRow, "notification rule", tenant_id, rule_id))
        self._flush()

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert or replace a delivery."""
        self._session.merge(NotificationDeliveryRow(**_delivery_values(delivery)))
        self._flush()

    def delete_delivery(self, delivery_id: str) -> None:
        """Forget a delivered delivery."""
        self._session.execute(
            delete(NotificationDeliveryRow).where(NotificationDeliveryRow.id == delivery_id)
        )

    def list_deliveries(
        self,
        tenant_id: str | None,
        *,
        status: DeliveryStatus | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries in the scope, oldest first."""
        stmt = select(NotificationDeliveryRow).order_by(
            NotificationDeliveryRow.created_ms, NotificationDeliveryRow.id
        )
        if tenant_id is not None:
            stmt = stmt.where(NotificationDeliveryRow.tenant_id == tenant_id)
        if status is not None:
            stmt = stmt.where(NotificationDeliveryRow.status == status.value)
        return [_delivery(r) for r in self._page(stmt, offset, limit)]

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one attempt."""
        values = {
            **{name: getattr(attempt, name) for name in DeliveryAttempt.__dataclass_fields__},
            "channel": attempt.channel.value,
            "outcome": attempt.outcome.value,
        }
        self._session.add(NotificationAttemptRow(**values))
        self._flush()

    def list_attempts(
        self,
        tenant_id: str | None,
        *,
        delivery_id: str | None = None,
        rule_id: str | None = None,
        alarm_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """Attempts in the scope, newest first."""
        check_page(offset, limit)
        row = NotificationAttemptRow
        stmt = select(row).order_by(row.ts_ms.desc(), row.attempt.desc(), row.id)
        for column, value in (
            (row.tenant_id, tenant_id),
            (row.delivery_id, delivery_id),
            (row.rule_id, rule_id),
            (row.alarm_id, alarm_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        return [_attempt(r) for r in self._page(stmt, offset, limit)]

    def _check_name(self, rule: NotificationRule) -> None:
        clash = select(NotificationRuleRow.id).where(
            NotificationRuleRow.tenant_id == rule.tenant_id,
            NotificationRuleRow.name == rule.name,
            NotificationRuleRow.id != rule.id,
        )
        if self._session.scalar(clash) is not None:
            raise Conflict(f"a notification rule named {rule.name!r} exists", field="name")
