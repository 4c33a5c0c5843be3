"""Dict-based storage of alarm rules, rule state and alarms, with the same rules as the SQL one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openiiot.domain.alarms import Alarm
from openiiot.domain.errors import Conflict
from openiiot.services.ports import AlarmRuleRecord, StateWrite, WindowChunk, WindowTrim
from openiiot.storage.memory.metadata_repositories import (
    MemoryRepository,
    check_new,
    in_scope,
    page,
    scoped_get,
)


class MemoryAlarmRepository(MemoryRepository):
    """Alarm rules, rule state (kept as JSON text, so stored values stay immutable) and alarms in memory."""

    def add_rule(self, record: AlarmRuleRecord) -> None:
        """Store a new rule."""
        check_new(self._t.alarm_rules, "alarm rule", record.id)
        self._t.alarm_rules[record.id] = record

    def get_rule(self, tenant_id: str | None, rule_id: str) -> AlarmRuleRecord:
        """The rule, or NotFound (also for another tenant's rule)."""
        record: AlarmRuleRecord = scoped_get(self._t.alarm_rules, "alarm rule", tenant_id, rule_id)
        return record

    def list_rules(
        self,
        tenant_id: str | None,
        *,
        profile_id: str | None = None,
        asset_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AlarmRuleRecord]:
        """Rules ordered by id, optionally of one profile."""
        items = (
            r
            for r in self._t.alarm_rules.values()
            if in_scope(r.tenant_id, tenant_id)
            and profile_id in (None, r.profile_id)
            and asset_id in (None, r.asset_id)
        )
        return page(items, lambda r: r.id, offset, limit)

    def update_rule(self, record: AlarmRuleRecord) -> None:
        """Replace a rule."""
        scoped_get(self._t.alarm_rules, "alarm rule", record.tenant_id, record.id)
        self._t.alarm_rules[record.id] = record

    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None:
        """Delete a rule and its state; its alarms stay as history."""
        scoped_get(self._t.alarm_rules, "alarm rule", tenant_id, rule_id)
        del self._t.alarm_rules[rule_id]
        for key in [k for k in self._t.alarm_states if k[0] == rule_id]:
            del self._t.alarm_states[key]
            self._t.alarm_state_versions.pop(key, None)
        for chunk in [k for k in self._t.alarm_window_chunks if k[1] == rule_id]:
            del self._t.alarm_window_chunks[chunk]

    def get_state(self, rule_id: str, originator_id: str) -> dict[str, Any] | None:
        """The stored evaluator state, or None."""
        raw = self._t.alarm_states.get((rule_id, originator_id))
        return None if raw is None else dict(json.loads(raw))

    def get_states(self, rule_ids: Sequence[str], originator_id: str) -> dict[str, dict[str, Any] | None]:
        """The stored states of several rules for one originator."""
        return {rule_id: self.get_state(rule_id, originator_id) for rule_id in rule_ids}

    def save_state(self, rule_id: str, originator_id: str, tenant_id: str, state: dict[str, Any]) -> None:
        """Insert or replace the evaluator state."""
        key = (rule_id, originator_id)
        self._t.alarm_states[key] = json.dumps(state)
        self._t.alarm_state_versions[key] = self._t.alarm_state_versions.get(key, 0) + 1

    def get_versioned_states(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
        """States and versions of several (rule, originator) pairs; absent pairs are left out."""
        return {
            key: (dict(json.loads(self._t.alarm_states[key])), self._t.alarm_state_versions.get(key, 1))
            for key in keys
            if key in self._t.alarm_states
        }

    def write_states(self, writes: Sequence[StateWrite]) -> None:
        """Write states over exactly the versions read; Conflict when one changed meanwhile."""
        for w in writes:
            key = (w.rule_id, w.originator_id)
            current = self._t.alarm_state_versions.get(key) if key in self._t.alarm_states else None
            if current != w.expected_version:
                raise Conflict(f"alarm rule state {w.rule_id}/{w.originator_id} changed meanwhile")
        for w in writes:
            key = (w.rule_id, w.originator_id)
            self._t.alarm_states[key] = json.dumps(w.state)
            self._t.alarm_state_versions[key] = (w.expected_version or 0) + 1

    def read_window_chunks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[WindowChunk]]:
        """The chunks of several (rule, originator) pairs by series and seq."""
        wanted = {(o, r) for r, o in keys}
        found: dict[tuple[str, str], list[WindowChunk]] = {}
        for o, r, series, seq in sorted(k for k in self._t.alarm_window_chunks if k[:2] in wanted):
            items = json.loads(self._t.alarm_window_chunks[(o, r, series, seq)])
            found.setdefault((r, o), []).append(WindowChunk(r, o, series, seq, items))
        return found

    def write_window_chunks(self, appends: Sequence[WindowChunk], trims: Sequence[WindowTrim]) -> None:
        """Delete trimmed chunks, add new ones; a chunk that exists already is a Conflict."""
        chunks = self._t.alarm_window_chunks
        for t in trims:
            for key in [k for k in chunks if k[:3] == (t.originator_id, t.rule_id, t.series)]:
                if key[3] < t.below_seq:
                    del chunks[key]
        for c in appends:
            key = (c.originator_id, c.rule_id, c.series, c.seq)
            if key in chunks:
                raise Conflict(f"alarm rule window {c.rule_id}/{c.originator_id} written meanwhile")
            chunks[key] = json.dumps(c.items)

    def get_open_alarm(self, originator_id: str, rule_id: str) -> Alarm | None:
        """The active alarm of (originator, rule), if any."""
        for alarm in self._t.alarms.values():
            if alarm.active and alarm.originator_id == originator_id and alarm.rule_id == rule_id:
                return alarm  # type: ignore[no-any-return]
        return None

    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or replace; a second active alarm of (originator, rule) is a Conflict."""
        current = self.get_open_alarm(alarm.originator_id, alarm.rule_id)
        if alarm.active and current is not None and current.id != alarm.id:
            raise Conflict(f"rule {alarm.rule_id} already has an open alarm for {alarm.originator_id}")
        self._t.alarms[alarm.id] = alarm

    def get_alarm(self, tenant_id: str | None, alarm_id: str) -> Alarm:
        """The alarm, or NotFound."""
        alarm: Alarm = scoped_get(self._t.alarms, "alarm", tenant_id, alarm_id)
        return alarm

    def list_alarms(
        self,
        tenant_id: str | None,
        *,
        active: bool | None = None,
        severity: str | None = None,
        originator_id: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Alarm]:
        """Alarms raised in [from_ms, to_ms), newest first."""
        items = [
            a
            for a in self._t.alarms.values()
            if in_scope(a.tenant_id, tenant_id)
            and active in (None, a.active)
            and severity in (None, str(a.severity))
            and originator_id in (None, a.originator_id)
            and (from_ms is None or a.raised_ms >= from_ms)
            and (to_ms is None or a.raised_ms < to_ms)
        ]
        return page(items, lambda a: (-a.raised_ms, a.id), offset, limit)
