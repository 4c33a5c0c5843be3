"""Runs the alarm rules of each device's profile over committed telemetry and over time (ingest listener).

Per (rule, device) the evaluator state is loaded from the metadata store, advanced, and written back in the
same unit of work as the alarm rows it changes, so a restart resumes half-way through a duration and every
process reads the same state (docs/decisions/0006-alarm-rules.md). In one process a lock serialises batches
and ticks; across processes each state row carries a version, a write over a changed row is a Conflict,
and the device is evaluated again on the fresh state (docs/decisions/0007-alarm-state-concurrency.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from openiiot.domain.alarms import (
    Alarm,
    AlarmRule,
    EvalContext,
    RawSample,
    RuleState,
    apply_transition,
    evaluate,
    parse_rule,
    relevant_keys,
)
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_notifications import AlarmEventSink, change_events, ignore_events
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ports import AlarmRuleRecord, Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

TICK_LATENESS_MS = 5_000  # samples up to this late still count; timers fire up to this late
CONFLICT_RETRIES = 5  # re-evaluations of one device when other processes keep winning the race
RULE_CACHE_TTL_S = 10.0  # rules edited in another process take effect within this time
_PAGE = 1000


class AlarmEngine:
    """Evaluates alarm rules on each committed batch (`on_batch`) and as time passes (`tick_all`)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        directory: DeviceDirectory,
        clock: Clock,
        *,
        rule_cache_ttl_s: float = RULE_CACHE_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
        on_events: AlarmEventSink = ignore_events,
        last_activity: Callable[[str], int | None] | None = None,
    ) -> None:
        self._uow = uow
        self._last_activity = last_activity
        self._on_events = on_events
        self._directory = directory
        self._clock = clock
        self._ttl_s = rule_cache_ttl_s
        self._monotonic = monotonic
        self._rules: dict[str, tuple[float, tuple[AlarmRule, ...]]] = {}  # profile id -> (loaded at, rules)
        self._lock = threading.Lock()
        self.errors = 0  # evaluations that failed; logged, never raised into ingest
        self.transitions = 0  # alarm transitions persisted
        self.conflicts = 0  # evaluations redone because another process changed the same state first

    def invalidate_rules(self, profile_id: str | None = None) -> None:
        """Forget cached rules (of one profile, or all) after a rule change."""
        if profile_id is None:
            self._rules.clear()
        else:
            self._rules.pop(profile_id, None)

    def on_batch(self, batch: TelemetryBatch) -> None:
        """Ingest listener: evaluate the rules of every device in a committed batch; never raises."""
        try:
            by_device: dict[str, list[RawSample]] = defaultdict(list)
            for i, device_id in enumerate(batch.device_id):
                value = batch.value[i] if batch.value[i] is not None else batch.text[i]
                by_device[device_id].append((batch.ts_ms[i], batch.key[i], value))
            entries = self._directory.resolve_many(by_device)
        except Exception:
            self._failed("alarm evaluation failed", None)
            return
        for device_id, samples in by_device.items():
            entry = entries.get(device_id)
            if entry is None or entry.disabled:
                continue
            now_ms = max(ts for ts, _key, _value in samples)
            self._run_device(entry.tenant_id, device_id, entry.profile.id, samples, now_ms)

    def tick_all(self) -> int:
        """Advance time-driven conditions of every device that has rules; returns devices evaluated.

        Ticks advance rule state only to `now - TICK_LATENESS_MS`: a sample older than the state's last
        evaluated instant is ignored as late (decision 0006), and a device's sample is always a little
        older than the platform's clock by the time it is committed (network, batching). Without this
        margin a tick that ran between a sample's timestamp and its commit made the sample "late" and the
        alarm was missed. Durations and no-data timeouts therefore complete up to this much later.
        """
        now_ms = self._clock.now_ms() - TICK_LATENESS_MS
        try:
            targets = self._tick_targets()
        except Exception:
            self._failed("alarm tick failed", None)
            return 0
        for tenant_id, device_id, profile_id in targets:
            self._run_device(tenant_id, device_id, profile_id, (), now_ms)
        return len(targets)

    def _tick_targets(self) -> list[tuple[str, str, str]]:
        targets: list[tuple[str, str, str]] = []
        with self._uow() as uow:
            profiles = {(r.tenant_id, r.profile_id) for r in _all_rules(uow) if r.enabled}
            for tenant_id, profile_id in sorted(profiles):
                offset = 0
                while True:
                    page = uow.devices.list(tenant_id, profile_id=profile_id, offset=offset, limit=_PAGE)
                    targets.extend((tenant_id, d.id, profile_id) for d in page if not d.disabled)
                    offset += len(page)
                    if len(page) < _PAGE:
                        break
        return targets

    def _run_device(
        self, tenant_id: str, device_id: str, profile_id: str, samples: Sequence[RawSample], now_ms: int
    ) -> None:
        try:
            rules = self._rules_of(profile_id)
            if not rules:
                return
            with self._lock:
                for attempt in range(1, CONFLICT_RETRIES + 1):
                    try:
                        self._evaluate_device(tenant_id, device_id, rules, samples, now_ms)
                        return
                    except Conflict:
                        # another process advanced this device's state since we read it: evaluate again
                        # on top of its result, so neither process's samples are lost
                        self.conflicts += 1
                        if attempt == CONFLICT_RETRIES:
                            raise
        except Exception:
            self._failed("alarm evaluation failed", device_id)

    def _failed(self, message: str, device_id: str | None) -> None:
        self.errors += 1
        log.exception(message, extra={"device_id": device_id})

    def _rules_of(self, profile_id: str) -> tuple[AlarmRule, ...]:
        cached = self._rules.get(profile_id)
        if cached is not None and self._monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        with self._uow() as uow:
            records = uow.alarms.list_rules(None, profile_id=profile_id, limit=_PAGE)
        rules = tuple(parse_rule(r.rule) for r in records if r.enabled)
        self._rules[profile_id] = (self._monotonic(), rules)
        return rules

    def _evaluate_device(
        self,
        tenant_id: str,
        device_id: str,
        rules: Iterable[AlarmRule],
        samples: Sequence[RawSample],
        now_ms: int,
    ) -> None:
        changes: list[tuple[Alarm | None, Alarm]] = []
        activity = self._last_activity(device_id) if self._last_activity is not None else None
        context = EvalContext(last_activity_ms=activity)
        with self._uow() as uow:
            suppressed = in_maintenance(uow, tenant_id, device_id)
            rules = list(rules)
            stored = uow.alarms.get_states([rule.id for rule in rules], device_id)
            for rule in rules:
                raw = stored[rule.id]
                state = RuleState.from_dict(raw) if raw is not None else RuleState()
                keys = relevant_keys(rule)
                own = samples if keys is None else [sample for sample in samples if sample[1] in keys]
                new_state, transitions = evaluate(rule, state, own, now_ms, context)
                uow.alarms.save_state(rule.id, device_id, tenant_id, new_state.to_dict())
                for transition in transitions:
                    current = uow.alarms.get_open_alarm(device_id, rule.id)
                    alarm = apply_transition(
                        current,
                        transition,
                        new_alarm_id=new_id(),
                        tenant_id=tenant_id,
                        originator_id=device_id,
                        suppressed=suppressed,
                    )
                    if alarm is not None and alarm is not current:
                        uow.alarms.save_alarm(alarm)
                        changes.append((current, alarm))
                        self.transitions += 1
            events = change_events(uow, changes, now_ms) if changes else []
            uow.commit()
        if events:
            self._on_events(events)


def in_maintenance(uow: UnitOfWork, tenant_id: str, device_id: str) -> bool:
    """True when the device's asset is in maintenance mode: its alarms are recorded but suppressed."""
    try:
        device = uow.devices.get(tenant_id, device_id)
        if device.asset_id is None:
            return False
        return uow.assets.get(tenant_id, device.asset_id).maintenance_mode
    except NotFound:
        return False


def _all_rules(uow: UnitOfWork) -> list[AlarmRuleRecord]:
    records: list[AlarmRuleRecord] = []
    while True:
        page = uow.alarms.list_rules(None, offset=len(records), limit=_PAGE)
        records.extend(page)
        if len(page) < _PAGE:
            return records
