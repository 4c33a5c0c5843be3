"""Managing notification rules, and reading what was delivered: the handlers behind the notifications API.

Rules belong to a tenant; tenant admins write them, operators and up read them and the delivery log.
A webhook's secret is write-only: it is never returned by a read (rules come back with `secret` masked).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping
from typing import Any

from openiiot.domain.credentials import new_id
from openiiot.domain.model import Principal, Role
from openiiot.domain.notification_deliveries import Delivery, DeliveryAttempt, DeliveryStatus
from openiiot.domain.notifications import NotificationRule, QuietHours
from openiiot.services.audit import record
from openiiot.services.authorization import require_role, scope_of, target_tenant
from openiiot.services.ports import Clock, UnitOfWorkFactory

RULE_FIELDS = frozenset(
    {
        "name",
        "channel",
        "target",
        "site_ids",
        "severities",
        "alarm_types",
        "transitions",
        "quiet_hours",
        "enabled",
    }
)
SECRET_MASK = "********"  # noqa: S105 - the mask shown instead of a secret


def masked(rule: NotificationRule) -> NotificationRule:
    """The rule as reads show it: a webhook secret is replaced by a mask."""
    if "secret" not in rule.target:
        return rule
    target = {**rule.target, "secret": SECRET_MASK}
    # bypass validation: the mask is shorter than a valid secret by design
    copy = object.__new__(NotificationRule)
    for f in dataclasses.fields(NotificationRule):
        object.__setattr__(copy, f.name, target if f.name == "target" else getattr(rule, f.name))
    return copy


def _quiet(raw: Any) -> QuietHours | None:
    if raw is None or isinstance(raw, QuietHours):
        return raw
    return QuietHours(**dict(raw))


class NotificationRuleService:
    """Tenant-scoped notification rules, pending and dead-lettered deliveries, and the attempt log."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def create(
        self, principal: Principal, values: Mapping[str, Any], tenant_id: str | None = None
    ) -> NotificationRule:
        """Validate and store a rule."""
        require_role(principal, Role.TENANT_ADMIN, "creating notification rules")
        owner = target_tenant(principal, tenant_id)
        fields = {k: v for k, v in values.items() if k in RULE_FIELDS}
        fields["quiet_hours"] = _quiet(fields.get("quiet_hours"))
        rule = NotificationRule(id=new_id(), tenant_id=owner, **fields)
        with self._uow() as uow:
            uow.tenants.get(owner)
            uow.notifications.add_rule(rule)
            record(
                uow,
                self._clock,
                principal,
                "notification_rule.create",
                "notification_rule",
                rule.id,
                tenant_id=owner,
                details={"name": rule.name, "channel": rule.channel.value},
            )
            uow.commit()
        return masked(rule)

    def get(self, principal: Principal, rule_id: str) -> NotificationRule:
        """One rule of the caller's tenant."""
        require_role(principal, Role.OPERATOR, "reading notification rules")
        with self._uow() as uow:
            return masked(uow.notifications.get_rule(scope_of(principal), rule_id))

    def list(self, principal: Principal, *, offset: int = 0, limit: int = 100) -> list[NotificationRule]:
        """Rules of the caller's tenant by name."""
        require_role(principal, Role.OPERATOR, "reading notification rules")
        with self._uow() as uow:
            rules = uow.notifications.list_rules(scope_of(principal), offset=offset, limit=limit)
        return [masked(r) for r in rules]

    def update(self, principal: Principal, rule_id: str, changes: Mapping[str, Any]) -> NotificationRule:
        """Change some fields; a webhook target given without a new secret keeps the stored one."""
        require_role(principal, Role.TENANT_ADMIN, "changing notification rules")
        values = {k: v for k, v in changes.items() if k in RULE_FIELDS}
        if "quiet_hours" in values:
            values["quiet_hours"] = _quiet(values["quiet_hours"])
        with self._uow() as uow:
            current = uow.notifications.get_rule(scope_of(principal), rule_id)
            target = values.get("target")
            if isinstance(target, Mapping) and target.get("secret") in (None, SECRET_MASK):
                values["target"] = {**target, "secret": current.target.get("secret")}
            rule = NotificationRule(**{**_as_fields(current), **values})
            uow.notifications.update_rule(rule)
            record(
                uow,
                self._clock,
                principal,
                "notification_rule.update",
                "notification_rule",
                rule_id,
                tenant_id=rule.tenant_id,
                details={"changed": sorted(values)},
            )
            uow.commit()
        return masked(rule)

    def delete(self, principal: Principal, rule_id: str) -> None:
        """Delete a rule; its delivery log stays."""
        require_role(principal, Role.TENANT_ADMIN, "deleting notification rules")
        with self._uow() as uow:
            rule = uow.notifications.get_rule(scope_of(principal), rule_id)
            uow.notifications.delete_rule(scope_of(principal), rule_id)
            record(
                uow,
                self._clock,
                principal,
                "notification_rule.delete",
                "notification_rule",
                rule_id,
                tenant_id=rule.tenant_id,
                details={"name": rule.name},
            )
            uow.commit()

    def deliveries(
        self,
        principal: Principal,
        *,
        status: DeliveryStatus | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Delivery]:
        """Deliveries waiting for a retry, or dead letters, oldest first."""
        require_role(principal, Role.OPERATOR, "reading notification deliveries")
        with self._uow() as uow:
            return uow.notifications.list_deliveries(
                scope_of(principal), status=status, offset=offset, limit=limit
            )

    def attempts(
        self,
        principal: Principal,
        *,
        delivery_id: str | None = None,
        rule_id: str | None = None,
        alarm_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[DeliveryAttempt]:
        """The attempt log, newest first."""
        require_role(principal, Role.OPERATOR, "reading notification deliveries")
        with self._uow() as uow:
            return uow.notifications.list_attempts(
                scope_of(principal),
                delivery_id=delivery_id,
                rule_id=rule_id,
                alarm_id=alarm_id,
                offset=offset,
                limit=limit,
            )


def _as_fields(rule: NotificationRule) -> dict[str, Any]:
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}
