"""Alarm handlers: rule CRUD on device profiles, alarm queries, the operator actions and ISA-18.2 KPIs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from openiiot.analytics import alarm_kpis
from openiiot.domain import alarms as lifecycle
from openiiot.domain.alarms import Alarm, parse_rule, release_alarm, rule_to_dict
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import Principal, Role
from openiiot.services.alarm_notifications import AlarmEventSink, change_events, ignore_events
from openiiot.services.alarm_state_store import load_states, prepare_write, store
from openiiot.services.audit import record as audit_record
from openiiot.services.authorization import require_reader, require_role, scope_of, target_tenant
from openiiot.services.ports import AlarmRuleRecord, Clock, UnitOfWork, UnitOfWorkFactory

RulesChanged = Callable[[str | None], None]  # profile id whose rules changed (None: unknown)
MAX_KPI_ALARMS = 100_000  # alarms read for one KPI report; a bound on memory, far above a sane range
_PAGE = 1000


def _ignore(_profile_id: str | None) -> None:
    return None


def validated_rule(raw: Mapping[str, Any], rule_id: str) -> dict[str, Any]:
    """The rule's canonical JSON with its id set; the error names its JSON path (`rule.levels[0]...`)."""
    candidate = {**raw, "id": rule_id}
    try:
        return rule_to_dict(parse_rule(candidate))
    except ValidationFailed as exc:
        path = f"rule.{exc.field}" if exc.field else "rule"
        raise ValidationFailed(str(exc), field=path) from exc


class AlarmService:
    """Tenant-scoped alarm rules and alarms; operator actions are recorded in each alarm's history."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        on_rules_changed: RulesChanged = _ignore,
        on_events: AlarmEventSink = ignore_events,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_rules_changed = on_rules_changed
        self._on_events = on_events

    # --- rules -----------------------------------------------------------------------------------------

    def create_rule(
        self,
        principal: Principal,
        profile_id: str | None,
        rule: Mapping[str, Any],
        enabled: bool = True,
        tenant_id: str | None = None,
        *,
        asset_id: str | None = None,
    ) -> AlarmRuleRecord:
        """Attach a validated rule to a device profile of the tenant, or to an asset: an asset's rule is
        evaluated for every device placed on the asset or on an asset below it (each device its own alarm)."""
        require_role(principal, Role.TENANT_ADMIN, "creating alarm rules")
        if (profile_id is None) == (asset_id is None):
            raise ValidationFailed("attach the rule to a device profile or to an asset (one of the two)",
                                   field="profile_id")  # fmt: skip
        owner = target_tenant(principal, tenant_id)
        rule_id = new_id()
        record = AlarmRuleRecord(rule_id, owner, profile_id, validated_rule(rule, rule_id), enabled, asset_id)
        with self._uow() as uow:
            if profile_id is not None:
                uow.profiles.get(owner, profile_id)  # NotFound for another tenant's profile
            if asset_id is not None:
                uow.assets.get(owner, asset_id)  # NotFound for another tenant's asset
            uow.alarms.add_rule(record)
            audit_record(
                uow,
                self._clock,
                principal,
                "alarm_rule.create",
                "alarm_rule",
                rule_id,
                tenant_id=owner,
                details={"profile_id": profile_id, "asset_id": asset_id, "name": record.rule.get("name")},
            )
            uow.commit()
        self._on_rules_changed(profile_id)
        return record

    def get_rule(self, principal: Principal, rule_id: str) -> AlarmRuleRecord:
        """One rule."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.alarms.get_rule(scope_of(principal), rule_id)

    def list_rules(
        self,
        principal: Principal,
        profile_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
        *,
        asset_id: str | None = None,
    ) -> list[AlarmRuleRecord]:
        """Rules of the caller's tenant, optionally of one profile or one asset."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.alarms.list_rules(
                scope_of(principal), profile_id=profile_id, asset_id=asset_id, offset=offset, limit=limit
            )

    def update_rule(
        self,
        principal: Principal,
        rule_id: str,
        rule: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> AlarmRuleRecord:
        """Replace a rule's definition and/or enable or disable it; an open alarm carries over."""
        require_role(principal, Role.TENANT_ADMIN, "changing alarm rules")
        with self._uow() as uow:
            current = uow.alarms.get_rule(scope_of(principal), rule_id)
            updated = dataclasses.replace(
                current,
                rule=validated_rule(rule, rule_id) if rule is not None else current.rule,
                enabled=current.enabled if enabled is None else enabled,
            )
            uow.alarms.update_rule(updated)
            audit_record(
                uow,
                self._clock,
                principal,
                "alarm_rule.update",
                "alarm_rule",
                rule_id,
                tenant_id=updated.tenant_id,
                details={"definition_changed": rule is not None, "enabled": updated.enabled},
            )
            uow.commit()
        self._on_rules_changed(updated.profile_id)
        return updated

    def delete_rule(self, principal: Principal, rule_id: str) -> None:
        """Delete a rule; its alarms stay as history, and its open ones are cleared (nothing could clear
        them any more)."""
        require_role(principal, Role.TENANT_ADMIN, "deleting alarm rules")
        now_ms = self._now()
        with self._uow() as uow:
            record = uow.alarms.get_rule(scope_of(principal), rule_id)
            offset = 0
            while True:
                page = uow.alarms.list_alarms(record.tenant_id, active=True, offset=offset, limit=_PAGE)
                for alarm in page:
                    if alarm.rule_id == rule_id:
                        uow.alarms.save_alarm(
                            lifecycle.retire(alarm, principal.username, now_ms, "the alarm rule was deleted")
                        )
                offset += len(page)
                if len(page) < _PAGE:
                    break
            uow.alarms.delete_rule(scope_of(principal), rule_id)
            audit_record(
                uow,
                self._clock,
                principal,
                "alarm_rule.delete",
                "alarm_rule",
                rule_id,
                tenant_id=record.tenant_id,
                details={"name": record.rule.get("name")},
            )
            uow.commit()
        self._on_rules_changed(record.profile_id)

    # --- alarms ----------------------------------------------------------------------------------------

    def list_alarms(
        self,
        principal: Principal,
        *,
        active: bool | None = None,
        severity: str | None = None,
        device_id: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Alarm]:
        """Alarms of the caller's tenant raised in [from_ms, to_ms), newest first; expired shelving ends."""
        require_reader(principal)
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            found = uow.alarms.list_alarms(
                scope_of(principal),
                active=active,
                severity=severity,
                originator_id=device_id,
                from_ms=from_ms,
                to_ms=to_ms,
                offset=offset,
                limit=limit,
            )
        return [lifecycle.expire_shelving(a, now_ms) for a in found]

    def get_alarm(self, principal: Principal, alarm_id: str) -> Alarm:
        """One alarm with its history."""
        require_reader(principal)
        with self._uow() as uow:
            return lifecycle.expire_shelving(uow.alarms.get_alarm(scope_of(principal), alarm_id), self._now())

    def acknowledge(self, principal: Principal, alarm_id: str, comment: str | None = None) -> Alarm:
        """The operator has seen the alarm."""
        return self._act(
            principal, alarm_id, "acknowledge", lambda a, by, now: lifecycle.acknowledge(a, by, now, comment)
        )

    def clear(self, principal: Principal, alarm_id: str, comment: str | None = None) -> Alarm:
        """Clear by hand; a condition still present then raises a new alarm."""
        return self._act(
            principal, alarm_id, "clear", lambda a, by, now: lifecycle.clear(a, by, now, comment)
        )

    def reset(self, principal: Principal, alarm_id: str, comment: str | None = None) -> Alarm:
        """Reset a latched alarm whose condition has returned to normal."""
        return self._act(
            principal, alarm_id, "reset", lambda a, by, now: lifecycle.reset(a, by, now, comment)
        )

    def shelve(self, principal: Principal, alarm_id: str, until_ms: int, comment: str | None = None) -> Alarm:
        """Take a nuisance alarm off the screen until `until_ms` (at most 7 days)."""
        return self._act(
            principal, alarm_id, "shelve", lambda a, by, now: lifecycle.shelve(a, by, now, until_ms, comment)
        )

    def unshelve(self, principal: Principal, alarm_id: str, comment: str | None = None) -> Alarm:
        """End shelving early."""
        return self._act(
            principal, alarm_id, "unshelve", lambda a, by, now: lifecycle.unshelve(a, by, now, comment)
        )

    def comment(self, principal: Principal, alarm_id: str, text: str) -> Alarm:
        """Add a comment to the alarm's history."""
        if not text.strip():
            raise ValidationFailed("comment must not be empty", field="comment")
        return self._act(
            principal, alarm_id, "comment", lambda a, by, now: lifecycle.add_comment(a, by, now, text)
        )

    def kpis(self, principal: Principal, from_ms: int, to_ms: int) -> dict[str, Any]:
        """ISA-18.2 KPIs over the tenant's alarms raised in [from_ms, to_ms)."""
        require_reader(principal)
        if to_ms <= from_ms:
            raise ValidationFailed("to_ms must be after from_ms", field="to_ms")
        records = [_kpi_record(a) for a in self._alarms_in(principal, from_ms, to_ms)]
        return {
            "from_ms": from_ms,
            "to_ms": to_ms,
            "alarm_count": len(records),
            "rates": [
                dataclasses.asdict(r) for r in alarm_kpis.alarm_rates(records, from_ms, to_ms).values()
            ],
            "floods": [dataclasses.asdict(f) for f in alarm_kpis.flood_periods(records)],
            "standing": len(alarm_kpis.standing_alarms(records, to_ms)),
            "stale": len(alarm_kpis.stale_alarms(records, to_ms)),
            "chattering": [dataclasses.asdict(c) for c in alarm_kpis.chattering_alarms(records)],
            "bad_actors": [dataclasses.asdict(b) for b in alarm_kpis.bad_actors(records)],
        }

    def _alarms_in(self, principal: Principal, from_ms: int, to_ms: int) -> list[Alarm]:
        found: list[Alarm] = []
        with self._uow() as uow:
            while len(found) < MAX_KPI_ALARMS:
                page = uow.alarms.list_alarms(
                    scope_of(principal), from_ms=from_ms, to_ms=to_ms, offset=len(found), limit=_PAGE
                )
                found.extend(page)
                if len(page) < _PAGE:
                    break
        return found

    def expire_shelving_due(self) -> int:
        """End every shelving that has expired, recording it in the alarm's history; returns how many.

        The scheduler runs this every few seconds; reads already treat expired shelving as ended.
        """
        now_ms = self._now()
        expired = 0
        offset = 0
        while True:
            with self._uow() as uow:
                page = uow.alarms.list_alarms(None, active=True, offset=offset, limit=_PAGE)
                due = [a for a in page if a.shelved_until_ms is not None and a.shelved_until_ms <= now_ms]
                changes = [(a, lifecycle.expire_shelving(a, now_ms)) for a in due]
                for _before, after in changes:
                    uow.alarms.save_alarm(after)
                events = change_events(uow, changes, now_ms) if changes else []
                uow.commit()
            expired += len(due)
            if events:
                self._on_events(events)
            if len(page) < _PAGE:
                return expired
            offset += len(page)

    def _now(self) -> int:
        return self._clock.now_ms()

    def _act(
        self, principal: Principal, alarm_id: str, verb: str, action: Callable[[Alarm, str, int], Alarm]
    ) -> Alarm:
        require_role(principal, Role.OPERATOR, "handling alarms")
        now_ms = self._now()
        with self._uow() as uow:
            before = lifecycle.expire_shelving(uow.alarms.get_alarm(scope_of(principal), alarm_id), now_ms)
            after = action(before, principal.username, now_ms)
            uow.alarms.save_alarm(after)
            if before.active and not after.active:
                _release(uow, after)
            details = {"comment": after.history[-1].comment} if after.history[-1].comment else {}
            audit_record(
                uow,
                self._clock,
                principal,
                f"alarm.{verb}",
                "alarm",
                alarm_id,
                tenant_id=after.tenant_id,
                details=details,
            )
            events = change_events(uow, [(before, after)], now_ms)
            uow.commit()
        if events:
            self._on_events(events)
        return after


def _release(uow: UnitOfWork, alarm: Alarm) -> None:
    """After a manual clear the rule forgets the alarm, so a condition still present raises a new one."""
    key = (alarm.rule_id, alarm.originator_id)
    stored = load_states(uow.alarms, [key])[key]
    if stored.version is not None:  # the engine caches states: its next write over this one is a Conflict
        store(uow.alarms, [prepare_write(key, alarm.tenant_id, stored, release_alarm(stored.state))])


def _kpi_record(alarm: Alarm) -> alarm_kpis.AlarmRecord:
    return alarm_kpis.AlarmRecord(
        alarm_id=alarm.id,
        rule_id=alarm.rule_id,
        originator_id=alarm.originator_id,
        raised_ms=alarm.raised_ms,
        cleared_ms=alarm.cleared_ms,
        acknowledged_ms=alarm.acknowledged_ms,
        group=alarm.tenant_id,
        suppressed=alarm.suppressed,
    )
