"""Alarm rules: severity levels with raise conditions, a clear condition with deadband, delays, latching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from openiiot.domain.alarms.condition_json import FieldReader, condition_to_dict, parse_condition
from openiiot.domain.alarms.conditions import MAX_WINDOW_S, Condition
from openiiot.domain.errors import ValidationFailed


class Severity(StrEnum):
    """Alarm priority, highest first (ISA-18.2 priorities mapped to ThingsBoard's names)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        """Larger is more severe: warning 1 … critical 4."""
        return _RANK[self]


_RANK = {Severity.WARNING: 1, Severity.MINOR: 2, Severity.MAJOR: 3, Severity.CRITICAL: 4}


@dataclass(frozen=True, slots=True)
class SeverityLevel:
    """Raise the alarm at `severity` while `condition` holds."""

    severity: Severity
    condition: Condition


@dataclass(frozen=True, slots=True)
class ClearSpec:
    """When an active alarm clears.

    With `condition` None the alarm clears when no level's raise condition holds, each threshold relaxed by
    `deadband` (in the key's unit: raised at x > 80 with deadband 5, it clears at x <= 75). With an explicit
    `condition` the user writes the hysteresis themselves and `deadband` must be 0.
    """

    condition: Condition | None = None
    deadband: float = 0.0


WORK_ORDER_PRIORITIES = ("urgent", "high", "medium", "low")


@dataclass(frozen=True, slots=True)
class AutoWorkOrder:
    """A rule's instruction to open a work order for each new alarm it raises."""

    priority: str = "medium"
    verify_after_s: int = 600


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One alarm rule of a device profile (or of an asset, applied to each of its devices)."""

    id: str
    name: str
    alarm_type: str
    levels: tuple[SeverityLevel, ...]
    clear: ClearSpec = ClearSpec()
    on_delay_s: int = 0  # a level's condition must hold this long before it raises (ISA-18.2 on-delay)
    off_delay_s: int = 0  # the clear condition must hold this long before the alarm clears
    latching: bool = False  # stays open after return to normal until an operator resets it
    work_order: AutoWorkOrder | None = None  # open a work order automatically when the alarm is raised

    def level(self, severity: Severity) -> SeverityLevel | None:
        """The level for `severity`, or None."""
        for level in self.levels:
            if level.severity is severity:
                return level
        return None


_RULE_FIELDS = {
    "id", "name", "alarm_type", "levels", "clear", "on_delay_s", "off_delay_s", "latching", "work_order",
}  # fmt: skip


def _parse_work_order(r: FieldReader) -> AutoWorkOrder | None:
    if r.raw.get("work_order") is None:
        return None
    wr = FieldReader(r.raw["work_order"], r.at("work_order"), {"priority", "verify_after_s"})
    priority = wr.text("priority", default="medium")
    if priority not in WORK_ORDER_PRIORITIES:
        raise ValidationFailed(
            f"priority must be one of {', '.join(WORK_ORDER_PRIORITIES)}", field=wr.at("priority")
        )
    return AutoWorkOrder(priority, wr.integer("verify_after_s", 0, 7 * 86400, default=600))


def _parse_levels(r: FieldReader) -> tuple[SeverityLevel, ...]:
    raw = r.required("levels")
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("levels must be a non-empty list", field=r.at("levels"))
    levels: list[SeverityLevel] = []
    for i, item in enumerate(raw):
        lr = FieldReader(item, f"{r.at('levels')}[{i}]", {"severity", "condition"})
        severity: Severity = lr.choice("severity", Severity)
        if any(level.severity is severity for level in levels):
            raise ValidationFailed(f"severity {severity.value} appears twice", field=lr.at("severity"))
        levels.append(SeverityLevel(severity, parse_condition(lr.required("condition"), lr.at("condition"))))
    return tuple(levels)


def _parse_clear(r: FieldReader) -> ClearSpec:
    if r.raw.get("clear") is None:
        return ClearSpec()
    cr = FieldReader(r.raw["clear"], r.at("clear"), {"condition", "deadband"})
    condition = None
    if cr.raw.get("condition") is not None:
        condition = parse_condition(cr.raw["condition"], cr.at("condition"))
    deadband = cr.number("deadband", default=0.0)
    if deadband < 0:
        raise ValidationFailed("deadband must not be negative", field=cr.at("deadband"))
    if condition is not None and deadband != 0:
        raise ValidationFailed(
            "deadband applies only when clear.condition is absent; put the hysteresis in the condition",
            field=cr.at("deadband"),
        )
    return ClearSpec(condition, deadband)


def parse_rule(raw: object) -> AlarmRule:
    """Validate and parse a rule from its JSON form; ValidationFailed.field is the JSON path of the error."""
    r = FieldReader(raw, "", _RULE_FIELDS)
    rule_id, name, alarm_type = r.text("id"), r.text("name"), r.text("alarm_type")
    for field_name, value in (("id", rule_id), ("name", name), ("alarm_type", alarm_type)):
        if not value.strip() or len(value) > 200:
            raise ValidationFailed(f"{field_name} must be 1-200 characters", field=field_name)
    return AlarmRule(
        id=rule_id,
        name=name,
        alarm_type=alarm_type,
        levels=_parse_levels(r),
        clear=_parse_clear(r),
        on_delay_s=r.integer("on_delay_s", 0, MAX_WINDOW_S, default=0),
        off_delay_s=r.integer("off_delay_s", 0, MAX_WINDOW_S, default=0),
        latching=r.boolean("latching", False),
        work_order=_parse_work_order(r),
    )


def rule_to_dict(rule: AlarmRule) -> dict[str, Any]:
    """The JSON form of a rule; `parse_rule` reads it back to an equal rule."""
    clear = rule.clear
    return {
        "id": rule.id,
        "name": rule.name,
        "alarm_type": rule.alarm_type,
        "levels": [
            {"severity": lv.severity.value, "condition": condition_to_dict(lv.condition)}
            for lv in rule.levels
        ],
        "clear": {
            "condition": None if clear.condition is None else condition_to_dict(clear.condition),
            "deadband": clear.deadband,
        },
        "on_delay_s": rule.on_delay_s,
        "off_delay_s": rule.off_delay_s,
        "latching": rule.latching,
        # only when set: rules without it keep the fingerprint (and so the state) they had before it existed
        **(
            {}
            if rule.work_order is None
            else {
                "work_order": {
                    "priority": rule.work_order.priority,
                    "verify_after_s": rule.work_order.verify_after_s,
                }
            }
        ),
    }


@lru_cache(maxsize=4096)
def rule_fingerprint(rule: AlarmRule) -> str:
    """A short digest of the rule's JSON form: rule state built for another version is not reused."""
    text = json.dumps(rule_to_dict(rule), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
