"""Alarm rules on device profiles and on assets."""

from __future__ import annotations

from fastapi import APIRouter, status

from openiiot.api.deps import LimitQuery, OffsetQuery, PrincipalDep, ServicesDep
from openiiot.api.schemas.alarms import AlarmRuleCreate, AlarmRulePublic, AlarmRuleUpdate
from openiiot.api.schemas.common import PROBLEM_RESPONSES, Page

router = APIRouter(prefix="/alarm-rules", tags=["alarm rules"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=AlarmRulePublic, status_code=status.HTTP_201_CREATED)
def create_rule(body: AlarmRuleCreate, principal: PrincipalDep, services: ServicesDep) -> AlarmRulePublic:
    """Attach a rule to a device profile or an asset; an invalid rule is a 422 naming the JSON path of the
    mistake."""
    record = services.alarms.create_rule(
        principal, body.profile_id, body.rule, body.enabled, body.tenant_id, asset_id=body.asset_id
    )
    return AlarmRulePublic.model_validate(record)


@router.get("", response_model=Page[AlarmRulePublic])
def list_rules(
    principal: PrincipalDep,
    services: ServicesDep,
    profile_id: str | None = None,
    asset_id: str | None = None,
    offset: OffsetQuery = 0,
    limit: LimitQuery = 100,
) -> Page[AlarmRulePublic]:
    """Rules of the caller's tenant, optionally of one profile or one asset."""
    items = services.alarms.list_rules(principal, profile_id, offset, limit, asset_id=asset_id)
    return Page(items=[AlarmRulePublic.model_validate(r) for r in items], offset=offset, limit=limit)


@router.get("/{rule_id}", response_model=AlarmRulePublic)
def get_rule(rule_id: str, principal: PrincipalDep, services: ServicesDep) -> AlarmRulePublic:
    """One rule."""
    return AlarmRulePublic.model_validate(services.alarms.get_rule(principal, rule_id))


@router.put("/{rule_id}", response_model=AlarmRulePublic)
def update_rule(
    rule_id: str, body: AlarmRuleUpdate, principal: PrincipalDep, services: ServicesDep
) -> AlarmRulePublic:
    """Replace the rule and/or enable or disable it; an open alarm carries over."""
    record = services.alarms.update_rule(principal, rule_id, body.rule, body.enabled)
    return AlarmRulePublic.model_validate(record)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: str, principal: PrincipalDep, services: ServicesDep) -> None:
    """Delete a rule; its alarms stay as history."""
    services.alarms.delete_rule(principal, rule_id)
