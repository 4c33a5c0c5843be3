"""Dict-based notification repository with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.notification_deliveries import Delivery, DeliveryAttempt, DeliveryStatus
from openiiot.domain.notifications import NotificationRule
from openiiot.storage.memory.metadata_repositories import (
    MetadataTables,
    by_name,
    check_new,
    in_scope,
    page,
    scoped_get,
)


class MemoryNotificationRepository:
    """Notification rules, deliveries and attempts in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def add_rule(self, rule: NotificationRule) -> None:
        """Store a new rule; Conflict when the id or the name is taken."""
        check_new(self._t.notification_rules, "notification rule", rule.id)
        if rule.tenant_id not in self._t.tenants:
            raise NotFound("tenant", rule.tenant_id)
        self._check_name(rule)
        self._t.notification_rules[rule.id] = rule

    def get_rule(self, tenant_id: str | None, rule_id: str) -> NotificationRule:
        """The rule, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.notification_rules, "notification rule", tenant_id, rule_id)

    def list_rules(
        self, tenant_id: str | None, *, enabled_only: bool = False, offset: int = 0, limit: int = 100
    ) -> list[NotificationRule]:
        """Rules in the scope ordered by name."""
        rules = (
            r
            for r in self._t.notification_rules.values()
            if in_scope(r.tenant_id, tenant_id) and (r.enabled or not enabled_only)
        )
        return page(rules, by_name, offset, limit)

    def update_rule(self, rule: NotificationRule) -> None:
        """Replace a rule; the tenant cannot change."""
        scoped_get(self._t.notification_rules, "notification rule", rule.tenant_id, rule.id)
        self._check_name(rule)
        self._t.notification_rules[rule.id] = rule

    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None:
        """Delete a rule; its attempts and pending deliveries stay."""
        scoped_get(self._t.notification_rules, "notification rule", tenant_id, rule_id)
        del self._t.notification_rules[rule_id]

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert or replace a delivery."""
        self._t.notification_deliveries[delivery.id] = delivery

    def delete_delivery(self, delivery_id: str) -> None:
        """Forget a delivered delivery."""
        self._t.notification_deliveries.pop(delivery_id, None)

    def list_deliveries(
        self,
        tenant_id: str | None,
        *,
        status: DeliveryStatus | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        """Deliveries in the scope, oldest first."""
        found = (
            d
            for d in self._t.notification_deliveries.values()
            if in_scope(d.tenant_id, tenant_id) and (status is None or d.status is status)
        )
        return page(found, lambda d: (d.created_ms, d.id), offset, limit)

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one attempt."""
        check_new(self._t.notification_attempts, "delivery attempt", attempt.id)
        self._t.notification_attempts[attempt.id] = attempt

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
        found = (
            a
            for a in self._t.notification_attempts.values()
            if in_scope(a.tenant_id, tenant_id)
            and delivery_id in (None, a.delivery_id)
            and rule_id in (None, a.rule_id)
            and alarm_id in (None, a.alarm_id)
        )
        return page(found, lambda a: (-a.ts_ms, -a.attempt, a.id), offset, limit)

    def _check_name(self, rule: NotificationRule) -> None:
        for other in self._t.notification_rules.values():
            if other.tenant_id == rule.tenant_id and other.name == rule.name and other.id != rule.id:
                raise Conflict(f"a notification rule named {rule.name!r} exists", field="name")
