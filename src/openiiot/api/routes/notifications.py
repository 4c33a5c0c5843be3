"""Notification rules (CRUD), deliveries waiting for a retry or dead-lettered, and the attempt log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page
from openiiot.api.schemas.notifications import (
    AttemptPublic,
    DeliveryPublic,
    NotificationRuleCreate,
    NotificationRulePublic,
    NotificationRuleUpdate,
)
from openiiot.domain.notification_deliveries import Delivery, DeliveryStatus

router = APIRouter(prefix="/notifications", tags=["notifications"], responses=PROBLEM_RESPONSES)


def _delivery(delivery: Delivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=delivery.id,
        tenant_id=delivery.tenant_id,
        rule_id=delivery.rule_id,
        rule_name=delivery.rule_name,
        channel=delivery.channel.value,
        event=delivery.event.as_dict(),
        created_ms=delivery.created_ms,
        next_attempt_ms=delivery.next_attempt_ms,
        attempts=delivery.attempts,
        status=delivery.status.value,
        last_error=delivery.last_error,
    )


@router.post("/rules", response_model=NotificationRulePublic, status_code=status.HTTP_201_CREATED)
def create_rule(
    body: NotificationRuleCreate, principal: PrincipalDep, services: ServicesDep
) -> NotificationRulePublic:
    """Create a notification rule (tenant admins)."""
    values = body.model_dump(exclude={"tenant_id"})
    rule = services.notification_rules.create(principal, values, body.tenant_id)
    return NotificationRulePublic.model_validate(rule)


@router.get("/rules", response_model=Page[NotificationRulePublic])
def list_rules(
    principal: PrincipalDep, services: ServicesDep, offset: OffsetQuery = 0, limit: LimitQuery = 100
) -> Page[NotificationRulePublic]:
    """Notification rules of the caller's tenant, by name."""
    rules = services.notification_rules.list(principal, offset=offset, limit=limit)
    return Page(items=[NotificationRulePublic.model_validate(r) for r in rules], offset=offset, limit=limit)


@router.get("/rules/{rule_id}", response_model=NotificationRulePublic)
def get_rule(rule_id: str, principal: PrincipalDep, services: ServicesDep) -> NotificationRulePublic:
    """One notification rule."""
    return NotificationRulePublic.model_validate(services.notification_rules.get(principal, rule_id))


@router.patch("/rules/{rule_id}", response_model=NotificationRulePublic)
def update_rule(
    rule_id: str, body: NotificationRuleUpdate, principal: PrincipalDep, services: ServicesDep
) -> NotificationRulePublic:
    """Change the fields given; a webhook target without `secret` keeps the stored secret."""
    changes = body.model_dump(exclude_unset=True)
    return NotificationRulePublic.model_validate(
        services.notification_rules.update(principal, rule_id, changes)
    )


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a rule; what it delivered stays in the attempt log."""
    services.notification_rules.delete(principal, rule_id)


@router.get("/deliveries", response_model=Page[DeliveryPublic])
def list_deliveries(
    principal: PrincipalDep,
    services: ServicesDep,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="pending or dead-letter")
    ] = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[DeliveryPublic]:
    """Deliveries not yet delivered: waiting for a retry (`pending`) or given up (`dead-letter`)."""
    found = services.notification_rules.deliveries(
        principal, status=delivery_status, offset=offset, limit=limit
    )
    return Page(items=[_delivery(d) for d in found], offset=offset, limit=limit)


@router.get("/attempts", response_model=Page[AttemptPublic])
def list_attempts(
    principal: PrincipalDep,
    services: ServicesDep,
    delivery_id: str | None = None,
    rule_id: str | None = None,
    alarm_id: str | None = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[AttemptPublic]:
    """Every delivery attempt, newest first: target, outcome, HTTP status, error, duration."""
    found = services.notification_rules.attempts(
        principal, delivery_id=delivery_id, rule_id=rule_id, alarm_id=alarm_id, offset=offset, limit=limit
    )
    return Page(items=[AttemptPublic.model_validate(a) for a in found], offset=offset, limit=limit)
