"""Runs the alarm rules of each device's profile over committed telemetry and over time (ingest listener).

Per (rule, device) the evaluator state is advanced and written back in the same unit of work as the alarm
rows it changes, so a restart resumes half-way through a duration and every process reads the same state
(docs/decisions/0006-alarm-rules.md). A whole ingest batch (or a chunk of a tick) is one unit of work: the
states this process wrote last are kept in memory with their row version, so the hot path reads nothing
and writes each state `WHERE version = <the version it wrote>` — a small row, plus only the window items
the batch appended (`alarm_state_store`, docs/decisions/0015-alarm-window-chunks.md). In one process a
lock serialises batches and ticks; across processes a write over a row another process changed is a
Conflict, the batch is rolled back, its cached states are dropped, and each of its devices is evaluated
again on the fresh stored state (docs/decisions/0007-alarm-state-concurrency.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from openiiot.domain.alarms import (
    Alarm,
    AlarmRule,
    EvalContext,
    RawSample,
    advance,
    apply_transition,
    next_due_ms,
    parse_rule,
    relevant_keys,
)
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound
from openiiot.domain.model import Asset, Device
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.alarm_notifications import AlarmEventSink, change_events, ignore_events
from openiiot.services.alarm_state_store import (
    PendingWrite,
    StoredState,
    committed,
    load_states,
    prepare_write,
    store,
)
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ports import AlarmRuleRecord, Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

TICK_LATENESS_MS = 5_000  # samples up to this late still count; timers fire up to this late
CONFLICT_RETRIES = 5  # re-evaluations of one device when other processes keep winning the race
RULE_CACHE_TTL_S = 10.0  # rules edited in another process take effect within this time
STATE_CACHE_MAX = 500_000  # (rule, device) states kept in memory; beyond that the oldest are read again
TICK_CHUNK = 500  # devices advanced in one unit of work by a tick
_PAGE = 1000

_Key = tuple[str, str]  # (rule id, device id)


@dataclass(frozen=True, slots=True)
class _Target:
    """One device to evaluate: its tenant and profile, the new samples (none for a tick) and the instant."""

    tenant_id: str
    device_id: str
    profile_id: str
    asset_id: str | None
    samples: Sequence[RawSample]
    now_ms: int


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
        # asset id -> (loaded at, the rules of the asset and of every asset above it)
        self._asset_rules: dict[str, tuple[float, tuple[AlarmRule, ...]]] = {}
        # (rule, device) -> the state as this process last wrote or read it, with its row version
        self._states: dict[_Key, StoredState] = {}
        self._lock = threading.Lock()
        self.errors = 0  # evaluations that failed; logged, never raised into ingest
        self.transitions = 0  # alarm transitions persisted
        self.conflicts = 0  # evaluations redone because another process changed the same state first

    def invalidate_rules(self, profile_id: str | None = None) -> None:
        """Forget cached rules (of one profile, or all) after a rule change."""
        self._asset_rules.clear()  # asset rules are few: any change reloads them
        if profile_id is None:
            self._rules.clear()
        else:
            self._rules.pop(profile_id, None)
        with self._lock:  # an edited or deleted rule restarts from its stored (or reset) state
            self._states.clear()

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
        targets = []
        for device_id, samples in by_device.items():
            entry = entries.get(device_id)
            if entry is None or entry.disabled:
                continue
            now_ms = max(ts for ts, _key, _value in samples)
            targets.append(
                _Target(entry.tenant_id, device_id, entry.profile.id, entry.asset_id, samples, now_ms)
            )
        self._run_many(targets)

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
        for i in range(0, len(targets), TICK_CHUNK):
            self._run_many([_Target(t, d, p, a, (), now_ms) for t, d, p, a in targets[i : i + TICK_CHUNK]])
        return len(targets)

    def _tick_targets(self) -> list[tuple[str, str, str, str | None]]:
        """(tenant, device, profile, asset) of every enabled device that some enabled rule applies to."""
        found: dict[str, tuple[str, str, str, str | None]] = {}
        with self._uow() as uow:
            records = [r for r in _all_rules(uow) if r.enabled]
            for tenant_id, profile_id in sorted(
                {(r.tenant_id, r.profile_id) for r in records if r.profile_id}
            ):
                for d in _devices(uow, tenant_id, profile_id=profile_id):
                    found[d.id] = (tenant_id, d.id, d.profile_id, d.asset_id)
            ruled_assets = {(r.tenant_id, r.asset_id) for r in records if r.asset_id is not None}
            for tenant_id in sorted({t for t, _ in ruled_assets}):
                below = _subtrees(_assets(uow, tenant_id), {a for t, a in ruled_assets if t == tenant_id})
                for asset_id in sorted(below):
                    for d in _devices(uow, tenant_id, asset_id=asset_id):
                        found[d.id] = (tenant_id, d.id, d.profile_id, d.asset_id)
        return sorted(found.values())

    def _run_many(self, targets: Sequence[_Target]) -> None:
        """Evaluate several devices in one unit of work; on a Conflict, each again on its stored state."""
        try:
            work = [(t, rules) for t in targets if (rules := self._rules_for(t))]
        except Exception:
            self._failed("alarm evaluation failed", None)
            return
        if not work:
            return
        with self._lock:
            try:
                self._evaluate_many(work)
                return
            except Conflict:
                self.conflicts += 1
                self._forget(work)
            except Exception:
                self._forget(work)  # advanced in place but not stored: read them again next time
                self._failed("alarm evaluation failed", None)
                return
        for target, rules in work:  # another process wrote some of these states first
            self._run_device(target, rules)

    def _forget(self, work: Sequence[tuple[_Target, tuple[AlarmRule, ...]]]) -> None:
        for target, rules in work:
            for rule in rules:
                self._states.pop((rule.id, target.device_id), None)

    def _evaluate_many(self, work: Sequence[tuple[_Target, tuple[AlarmRule, ...]]]) -> None:
        """The hot path: cached states, one read for the missing ones, versioned writes of each state's
        row and of only the window items it appended (decision 0015), one commit."""
        cache = self._states
        changes: list[tuple[Alarm | None, Alarm]] = []
        with self._uow() as uow:
            missing = [
                (rule.id, target.device_id)
                for target, rules in work
                for rule in rules
                if (rule.id, target.device_id) not in cache
            ]
            if missing:
                cache.update(load_states(uow.alarms, missing))
            pending: list[tuple[_Key, PendingWrite]] = []
            for target, rules in work:
                device_id = target.device_id
                activity = self._last_activity(device_id) if self._last_activity is not None else None
                context = EvalContext(last_activity_ms=activity)
                suppressed: bool | None = None  # read only when a transition needs it
                for rule, own in zip(rules, samples_per_rule(rules, target.samples), strict=True):
                    key = (rule.id, device_id)
                    stored = cache[key]
                    if not target.samples:
                        # a tick: nothing but a timer can change the alarm, so a rule whose next timer is
                        # still ahead is left as it is (no evaluation, no write)
                        due = next_due_ms(rule, stored.state, context)
                        if due is None or due > target.now_ms:
                            continue
                    # the cached state is advanced in place: a failed unit of work drops it from the cache
                    new_state, transitions = advance(rule, stored.state, own, target.now_ms, context)
                    pending.append((key, prepare_write(key, target.tenant_id, stored, new_state)))
                    for transition in transitions:
                        if suppressed is None:
                            suppressed = in_maintenance(uow, target.tenant_id, device_id)
                        current = uow.alarms.get_open_alarm(device_id, rule.id)
                        alarm = apply_transition(
                            current,
                            transition,
                            new_alarm_id=new_id(),
                            tenant_id=target.tenant_id,
                            originator_id=device_id,
                            suppressed=suppressed,
                        )
                        if alarm is not None and alarm is not current:
                            uow.alarms.save_alarm(alarm)
                            changes.append((current, alarm))
            store(uow.alarms, [p for _, p in pending])
            now_ms = max(target.now_ms for target, _ in work)
            events = change_events(uow, changes, now_ms) if changes else []
            uow.commit()
        for key, write in pending:
            cache.pop(key, None)  # re-inserted last: the dict's order is the eviction order
            cache[key] = committed(write)
        while len(cache) > STATE_CACHE_MAX:
            del cache[next(iter(cache))]
        self.transitions += len(changes)
        if events:
            self._on_events(events)

    def _run_device(self, target: _Target, rules: tuple[AlarmRule, ...]) -> None:
        """The careful path, one device per unit of work, reading its stored states (after a Conflict)."""
        device_id = target.device_id
        work = [(target, rules)]
        try:
            with self._lock:
                for attempt in range(1, CONFLICT_RETRIES + 1):
                    self._forget(work)  # evaluate on the stored states, not on what this process cached
                    try:
                        self._evaluate_many(work)
                        return
                    except Conflict:
                        # another process advanced this device's state since we read it: evaluate again
                        # on top of its result, so neither process's samples are lost
                        self.conflicts += 1
                        if attempt == CONFLICT_RETRIES:
                            raise
        except Exception:
            self._forget(work)
            self._failed("alarm evaluation failed", device_id)

    def _failed(self, message: str, device_id: str | None) -> None:
        self.errors += 1
        log.exception(message, extra={"device_id": device_id})

    def _rules_for(self, target: _Target) -> tuple[AlarmRule, ...]:
        """The device's rules: its profile's, then those of its asset and every asset above it."""
        rules = self._rules_of(target.profile_id)
        if target.asset_id is None:
            return rules
        return rules + self._asset_rules_of(target.tenant_id, target.asset_id)

    def _asset_rules_of(self, tenant_id: str, asset_id: str) -> tuple[AlarmRule, ...]:
        cached = self._asset_rules.get(asset_id)
        if cached is not None and self._monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        rules: list[AlarmRule] = []
        with self._uow() as uow:
            current: str | None = asset_id
            seen: set[str] = set()
            while current is not None and current not in seen:
                seen.add(current)
                records = uow.alarms.list_rules(tenant_id, asset_id=current, limit=_PAGE)
                rules.extend(parse_rule(r.rule) for r in records if r.enabled)
                try:
                    current = uow.assets.get(tenant_id, current).parent_id
                except NotFound:
                    current = None
        self._asset_rules[asset_id] = (self._monotonic(), tuple(rules))
        return tuple(rules)

    def _rules_of(self, profile_id: str) -> tuple[AlarmRule, ...]:
        cached = self._rules.get(profile_id)
        if cached is not None and self._monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        with self._uow() as uow:
            records = uow.alarms.list_rules(None, profile_id=profile_id, limit=_PAGE)
        rules = tuple(parse_rule(r.rule) for r in records if r.enabled)
        self._rules[profile_id] = (self._monotonic(), rules)
        return rules


def samples_per_rule(rules: Sequence[AlarmRule], samples: Sequence[RawSample]) -> list[Sequence[RawSample]]:
    """For each rule, the samples that can change it (`relevant_keys`), in their order: one pass over
    the samples, not one per rule."""
    if not samples:
        return [samples] * len(rules)
    own: list[Sequence[RawSample]] = []
    routes: dict[str, list[list[RawSample]]] = {}
    for rule in rules:
        keys = relevant_keys(rule)
        if keys is None:
            own.append(samples)
            continue
        mine: list[RawSample] = []
        own.append(mine)
        for key in keys:
            routes.setdefault(key, []).append(mine)
    for sample in samples:
        for mine in routes.get(sample[1], ()):
            mine.append(sample)
    return own


def in_maintenance(uow: UnitOfWork, tenant_id: str, device_id: str) -> bool:
    """True when the device's asset is in maintenance mode: its alarms are recorded but suppressed."""
    try:
        device = uow.devices.get(tenant_id, device_id)
        if device.asset_id is None:
            return False
        return uow.assets.get(tenant_id, device.asset_id).maintenance_mode
    except NotFound:
        return False


def _devices(uow: UnitOfWork, tenant_id: str, **filters: str) -> list[Device]:
    """The tenant's enabled devices matching the filters (profile_id or asset_id)."""
    found: list[Device] = []
    offset = 0
    while True:
        page = uow.devices.list(tenant_id, offset=offset, limit=_PAGE, **filters)
        found.extend(d for d in page if not d.disabled)
        offset += len(page)
        if len(page) < _PAGE:
            return found


def _assets(uow: UnitOfWork, tenant_id: str) -> list[Asset]:
    found: list[Asset] = []
    while True:
        page = uow.assets.list(tenant_id, offset=len(found), limit=_PAGE)
        found.extend(page)
        if len(page) < _PAGE:
            return found


def _subtrees(assets: Iterable[Asset], roots: set[str]) -> set[str]:
    """The root assets and every asset below them."""
    children: dict[str | None, list[str]] = defaultdict(list)
    for asset in assets:
        children[asset.parent_id].append(asset.id)
    found: set[str] = set()
    pending = list(roots)
    while pending:
        asset_id = pending.pop()
        if asset_id not in found:
            found.add(asset_id)
            pending.extend(children.get(asset_id, ()))
    return found


def _all_rules(uow: UnitOfWork) -> list[AlarmRuleRecord]:
    records: list[AlarmRuleRecord] = []
    while True:
        page = uow.alarms.list_rules(None, offset=len(records), limit=_PAGE)
        records.extend(page)
        if len(page) < _PAGE:
            return records
