"""Streaming condition monitoring: features, anomaly score, health index and RUL of every monitored device,
computed from its ingested telemetry and stored as telemetry of derived `cm.*` keys (decision 0011).

A device is monitored when it has the server attribute `condition_monitoring` (a JSON object, see
`ConditionConfig`). Each run of the job (a `PeriodicJob` wired in bootstrap) reads the device's new raw points
since the last run, turns every waveform burst (with the summary values of the same or an earlier
instant) into a feature row, and — once the declared healthy window is complete and the monitor is trained on
it — into an anomaly score, health index and RUL. The derived points are appended to the telemetry store
with the burst's timestamp (charts and queries line up with the raw data) and handed to the alarm engine
stamped with the job's clock, 1 ms apart in burst order (so that rules whose state has already moved past
the burst instant still see every one of them; the lag is at most one job interval plus any backlog).

State is rebuilt after a restart from stored telemetry: the monitor is retrained on the healthy window and
replays the bursts since then (at most `backfill_hours`), writing only points newer than the newest derived
point already stored.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openiiot.analytics.condition.bearing import BEARINGS
from openiiot.analytics.condition.monitor import (
    DEFAULT_GROUPS,
    WAVE_FEATURES,
    ConditionMonitor,
    MonitorSettings,
    burst_features,
)
from openiiot.analytics.condition.waveform import decode_waveform
from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import AttributeScope
from openiiot.domain.telemetry import Quality, TelemetryBatch
from openiiot.services.ports import Clock, TelemetryStore, UnitOfWorkFactory

log = logging.getLogger(__name__)

CONFIG_ATTRIBUTE = "condition_monitoring"
PREFIX = "cm."
_HOUR_MS = 3_600_000
_PAGE = 5000
_DEVICE_PAGE = 1000
_MAX_POINTS_PER_RUN = 200_000  # bounds the memory and the transaction of one run


@dataclass(frozen=True)
class ConditionConfig:
    """What to monitor on one device and how (the `condition_monitoring` server attribute)."""

    wave_key: str = "vib_wave"
    rpm_key: str = "wave_rpm"
    summary_keys: tuple[str, ...] = ("temp_rise_c", "current_rms_a")
    healthy_start_ms: int | None = None  # None: from the device's first burst
    healthy_hours: float = 24.0
    bearing: str | None = None  # a bearing of analytics.condition.bearing.BEARINGS, for BPFO/BPFI
    envelope_band: tuple[float, float] | None = None  # None: 20 %..49 % of the sampling rate
    budget: float = 0.01
    machine_group: str = "group2"
    foundation: str = "rigid"
    failure_levels: Mapping[str, float] = field(default_factory=dict)  # per symptom group, overrides
    # per symptom group: spread (sd of ln) of the indicator at failure over failed units; widens the RUL band
    failure_spread_log: Mapping[str, float] = field(default_factory=dict)
    backfill_hours: float = 720.0
    max_bursts_per_run: int = 500

    @classmethod
    def from_json(cls, value: Any) -> ConditionConfig:
        """Validate the attribute's JSON; ValidationFailed names the offending field."""
        if not isinstance(value, dict):
            raise ValidationFailed("condition_monitoring must be a JSON object", field=CONFIG_ATTRIBUTE)
        known = set(cls.__dataclass_fields__)
        unknown = set(value) - known
        if unknown:
            raise ValidationFailed(f"unknown settings {sorted(unknown)}", field=CONFIG_ATTRIBUTE)
        v = dict(value)
        try:
            if "summary_keys" in v:
                v["summary_keys"] = tuple(str(k) for k in v["summary_keys"])
            if v.get("envelope_band") is not None:
                lo, hi = (float(b) for b in v["envelope_band"])
                v["envelope_band"] = (lo, hi)
            if "failure_levels" in v:
                v["failure_levels"] = {str(k): float(x) for k, x in dict(v["failure_levels"]).items()}
            if "failure_spread_log" in v:
                v["failure_spread_log"] = {str(k): float(x) for k, x in dict(v["failure_spread_log"]).items()}
            for name in ("healthy_hours", "budget", "backfill_hours"):
                if name in v:
                    v[name] = float(v[name])
            for name in ("healthy_start_ms", "max_bursts_per_run"):
                if v.get(name) is not None:
                    v[name] = int(v[name])
            cfg = cls(**v)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"condition_monitoring: {exc}", field=CONFIG_ATTRIBUTE) from exc
        if cfg.bearing is not None and cfg.bearing not in BEARINGS:
            raise ValidationFailed(f"unknown bearing {cfg.bearing!r}", field="bearing")
        if not 0 < cfg.budget < 0.5 or cfg.healthy_hours <= 0:
            raise ValidationFailed("need 0 < budget < 0.5 and healthy_hours > 0", field=CONFIG_ATTRIBUTE)
        unknown_groups = set(cfg.failure_levels) - set(DEFAULT_GROUPS)
        if unknown_groups or any(x <= 0 for x in cfg.failure_levels.values()):
            raise ValidationFailed(
                f"failure_levels: groups are {sorted(DEFAULT_GROUPS)}, levels > 0", field="failure_levels"
            )
        unknown_spreads = set(cfg.failure_spread_log) - set(DEFAULT_GROUPS)
        if unknown_spreads or any(not 0 <= x < 3 for x in cfg.failure_spread_log.values()):
            raise ValidationFailed(
                f"failure_spread_log: groups are {sorted(DEFAULT_GROUPS)}, spreads 0 <= s < 3",
                field="failure_spread_log",
            )
        return cfg

    def monitor_settings(self) -> MonitorSettings:
        groups = {
            name: (keys, float(self.failure_levels.get(name, level)))
            for name, (keys, level) in DEFAULT_GROUPS.items()
        }
        return MonitorSettings(
            features=WAVE_FEATURES + self.summary_keys,
            groups=groups,
            budget=self.budget,
            machine_group=self.machine_group,
            foundation=self.foundation,
            failure_spread_log=dict(self.failure_spread_log),
        )

    def band(self, fs: float) -> tuple[float, float]:
        return self.envelope_band or (0.2 * fs, 0.49 * fs)


def features_of(cfg: ConditionConfig, text: str, rpm: float | None) -> dict[str, float]:
    """Feature row of one burst text value (ValueError when it cannot be read)."""
    wave, fs = decode_waveform(text)
    return burst_features(wave, fs, rpm, bearing=cfg.bearing, band=cfg.band(fs))


@dataclass
class _DeviceState:
    config: ConditionConfig
    monitor: ConditionMonitor
    healthy_start_ms: int | None = None
    cursor_ms: int = -1  # raw points up to this instant have been processed
    written_after_ms: int = -1  # derived points up to this instant are already stored
    healthy: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)  # latest summary values seen


class ConditionJob:
    """Run by the scheduler: processes every monitored device's new bursts (see the module docstring)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telemetry: TelemetryStore,
        clock: Clock,
        on_derived: Callable[[TelemetryBatch], None] | None = None,
        *,
        config_refresh_s: float = 60.0,
    ) -> None:
        self._uow = uow
        self._store = telemetry
        self._clock = clock
        self._on_derived = on_derived
        self._refresh_ms = int(config_refresh_s * 1000)
        self._configs: dict[str, ConditionConfig] = {}
        self._configs_at_ms: int | None = None
        self._states: dict[str, _DeviceState] = {}
        self._lock = threading.Lock()
        self.bursts = 0  # processed since start
        self.errors = 0

    def invalidate(self) -> None:
        """Re-read the configurations at the next run (after a change of the attribute)."""
        self._configs_at_ms = None

    def run(self) -> int:
        """One pass over the monitored devices; returns bursts processed."""
        with self._lock:
            now = self._clock.now_ms()
            if self._configs_at_ms is None or now - self._configs_at_ms >= self._refresh_ms:
                self._configs = self._load_configs()
                self._configs_at_ms = now
            for device_id in list(self._states):
                if device_id not in self._configs:
                    del self._states[device_id]
            done = 0
            derived, alarm_batch = TelemetryBatch(), TelemetryBatch()
            for device_id, cfg in sorted(self._configs.items()):
                if len(derived) >= _MAX_POINTS_PER_RUN:
                    break  # a backlog (first start, restart): the remaining devices go on next run
                try:
                    done += self._process(device_id, cfg, now, derived, alarm_batch)
                except Exception:
                    self.errors += 1
                    self._states.pop(device_id, None)  # rebuilt from stored telemetry next run
                    log.exception("condition monitoring failed", extra={"device_id": device_id})
            if len(derived):
                try:
                    self._store.append(derived)  # one transaction for the whole run
                except Exception:
                    self._states.clear()  # nothing of this run was stored: rebuild and redo it
                    raise
            if self._on_derived is not None and len(alarm_batch):
                self._on_derived(alarm_batch)
            return done

    def _load_configs(self) -> dict[str, ConditionConfig]:
        configs: dict[str, ConditionConfig] = {}
        with self._uow() as uow:
            offset = 0
            while True:
                page = uow.devices.list(None, offset=offset, limit=_DEVICE_PAGE)
                for device in page:
                    if device.disabled:
                        continue
                    for attr in uow.attributes.list(device.id, AttributeScope.SERVER):
                        if attr.key != CONFIG_ATTRIBUTE:
                            continue
                        try:
                            configs[device.id] = ConditionConfig.from_json(attr.value)
                        except ValidationFailed as exc:
                            log.warning(
                                "ignoring an invalid condition_monitoring attribute",
                                extra={"device_id": device.id, "error": str(exc)},
                            )
                offset += len(page)
                if len(page) < _DEVICE_PAGE:
                    break
        return configs

    def _state(self, device_id: str, cfg: ConditionConfig, now: int) -> _DeviceState | None:
        state = self._states.get(device_id)
        if state is not None and state.config == cfg:
            return state
        state = _DeviceState(cfg, ConditionMonitor(cfg.monitor_settings()))
        start = cfg.healthy_start_ms
        if start is None:
            first = self._store.raw(device_id, [cfg.wave_key], 0, now + 1, limit=1)
            if not first.points:
                return None  # no burst yet
            start = first.points[0].ts_ms
        state.healthy_start_ms = start
        state.cursor_ms = start - 1
        stored = self._store.latest([device_id], [PREFIX + "velocity_rms", PREFIX + "anomaly_score"])
        state.written_after_ms = max((v.ts_ms for v in stored.get(device_id, {}).values()), default=-1)
        self._states[device_id] = state
        return state

    def _process(
        self,
        device_id: str,
        cfg: ConditionConfig,
        now: int,
        out: TelemetryBatch,
        alarm_batch: TelemetryBatch,
    ) -> int:
        """Append the device's new derived points to `out` and their alarm samples to `alarm_batch`."""
        state = self._state(device_id, cfg, now)
        if state is None or state.healthy_start_ms is None:
            return 0
        healthy_end = state.healthy_start_ms + int(cfg.healthy_hours * _HOUR_MS)
        if state.monitor.fitted:
            # after a restart only `backfill_hours` of history are replayed
            state.cursor_ms = max(state.cursor_ms, now - int(cfg.backfill_hours * _HOUR_MS))
        rows = self._rows(device_id, cfg, state, now)
        fresh: list[tuple[int, dict[str, float]]] = []
        for ts, row in rows:
            values: dict[str, float] = {k: row[k] for k in WAVE_FEATURES}
            if ts < healthy_end:
                if all(k in row for k in state.monitor.settings.features):
                    state.healthy.append(row)
            else:
                if not state.monitor.fitted and not self._fit(device_id, state):
                    state.cursor_ms = ts - 1  # too few healthy rows: retried (and warned) at every run
                    break
                if all(k in row for k in state.monitor.settings.features):
                    values.update(state.monitor.update(ts, row))
            if ts > state.written_after_ms:
                values = {k: float(v) for k, v in values.items() if math.isfinite(v)}
                for key, value in values.items():
                    out.add(device_id, PREFIX + key, ts, value, None, Quality.GOOD)
                fresh.append((ts, values))
        if now >= healthy_end and not state.monitor.fitted and state.healthy:
            self._fit(device_id, state)
        if fresh:
            state.written_after_ms = max(state.written_after_ms, fresh[-1][0])
            # rows are stamped with the job's clock, 1 ms apart in burst order (see the module docstring)
            stamp = max(self._clock.now_ms(), fresh[-1][0]) - len(fresh) + 1
            for i, (_ts, values) in enumerate(fresh):
                for key, value in values.items():
                    alarm_batch.add(device_id, PREFIX + key, stamp + i, value)
        self.bursts += len(rows)
        return len(rows)

    def _fit(self, device_id: str, state: _DeviceState) -> bool:
        n_features = len(state.monitor.settings.features)
        if len(state.healthy) < n_features + 2:
            log.warning(
                "healthy window too short to train the condition monitor",
                extra={"device_id": device_id, "rows": len(state.healthy), "needed": n_features + 2},
            )
            return False
        state.monitor.fit(state.healthy)
        state.healthy = []
        return True

    def _rows(
        self, device_id: str, cfg: ConditionConfig, state: _DeviceState, now: int
    ) -> list[tuple[int, dict[str, float]]]:
        """Feature rows of the bursts after the cursor (at most `max_bursts_per_run`); advances the cursor."""
        keys = [cfg.wave_key, cfg.rpm_key, *cfg.summary_keys]
        rows: list[tuple[int, dict[str, float]]] = []
        cursor: str | None = None
        pending: dict[int, dict[str, Any]] = {}
        while True:
            page = self._store.raw(device_id, keys, state.cursor_ms + 1, now + 1, limit=_PAGE, cursor=cursor)
            for p in page.points:
                pending.setdefault(p.ts_ms, {})[p.key] = p.text if p.key == cfg.wave_key else p.value
            last_page = page.next_cursor is None
            # a page can end inside one instant: its last instant waits for the next page
            ready = sorted(pending) if last_page else sorted(pending)[:-1]
            for ts in ready:
                got = pending.pop(ts)
                state.cursor_ms = ts
                for k in cfg.summary_keys:
                    if isinstance(got.get(k), float):
                        state.summary[k] = got[k]
                text = got.get(cfg.wave_key)
                if not isinstance(text, str):
                    continue
                rpm = got.get(cfg.rpm_key)
                try:
                    row = features_of(cfg, text, rpm if isinstance(rpm, float) else None)
                except ValueError as exc:
                    log.warning("unreadable burst", extra={"device_id": device_id, "error": str(exc)})
                    continue
                row.update(state.summary)
                rows.append((ts, row))
                if len(rows) >= cfg.max_bursts_per_run:
                    return rows
            if last_page:
                return rows
            cursor = page.next_cursor
