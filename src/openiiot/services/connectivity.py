"""Connectivity status of every device, kept in memory and recorded as events (docs/connectivity.md).

Inputs: MQTT session opened/closed (from the broker, through the ingest consumer), activity (every message
the ingest pipeline processed for a known, enabled device, MQTT or HTTP, reported once per batch), and the
passing of time (`check`, a scheduled job, turns devices inactive once their profile's timeout has passed).
The current state of each device is in memory: reads and the ingest path never wait on the database.
Transitions are queued and written as events by `check` (every 2 s); the current states are written by
`flush` (every 30 s and at stop), and loaded by `load` at start.

One process per database keeps this state (the ingest role); see docs/connectivity.md for the limits.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from openiiot.domain.connectivity import (
    ConnectivityEvent,
    DeviceConnectivity,
    Status,
    Transition,
    activity_seen,
    check_inactive,
    session_changed,
)
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.domain.model import Principal
from openiiot.services.authorization import require_reader, scope_of
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

_PAGE = 1000
MAX_EVENT_PAGE = 1000


class ConnectivityService:
    """Tracks sessions and activity of every device; answers status, history and summaries."""

    def __init__(self, uow: UnitOfWorkFactory, directory: DeviceDirectory, clock: Clock) -> None:
        self._uow = uow
        self._directory = directory
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, DeviceConnectivity] = {}
        self._pending: list[ConnectivityEvent] = []
        self._dirty: set[str] = set()  # devices whose whole state changed since the last flush
        self._touched: set[str] = set()  # devices whose last activity alone moved (cheaper to write)
        self._via: dict[str, str] = {}  # child id -> the gateway it is (or was last) connected through
        self._children: dict[str, set[str]] = defaultdict(set)  # gateway id -> its children in `_via`
        self.events_written = 0

    # --- inputs ---------------------------------------------------------------------------------------

    def load(self, *, sessions_reset: bool) -> int:
        """Read the stored states; with `sessions_reset` (the embedded broker restarted with us) every
        session still marked open is closed at once, since its device must reconnect anyway."""
        with self._uow() as uow:
            stored = uow.connectivity.load_states()
            # children connected through a gateway fall with its session, even across a restart (with
            # sessions_reset every session is closed below anyway)
            connected = set() if sessions_reset else {state.device_id for state in stored if state.connected}
            via = {
                device_id: gateway_id
                for device_id, _tenant, _asset, gateway_id in (
                    uow.devices.placements(None) if connected else ()
                )
                if gateway_id is not None and device_id in connected
            }
        now_ms = self._clock.now_ms()
        with self._lock:
            for child, gateway in via.items():
                self._link(child, gateway)
            for state in stored:
                self._states[state.device_id] = state
                if sessions_reset and state.connected:
                    self._queue(state, session_changed(state, False, now_ms, "platform restarted"))
        return len(stored)

    def session_opened(self, device_id: str, ts_ms: int) -> None:
        """The broker accepted an MQTT session of the device."""
        with self._lock:
            self._unlink(device_id)  # its own session: no longer reached through a gateway
        self._session(device_id, True, ts_ms, "")

    def session_closed(self, device_id: str, ts_ms: int, reason: str = "") -> list[str]:
        """The device's last MQTT session closed (disconnect, keep-alive expiry, network loss); the children
        it had connected as a gateway are disconnected with it. Returns those children's ids."""
        self._session(device_id, False, ts_ms, reason)
        with self._lock:
            children = [
                child
                for child in self._children.get(device_id, ())
                if (state := self._states.get(child)) is not None and state.connected
            ]
            for child in children:
                self._queue(
                    self._states[child],
                    session_changed(self._states[child], False, ts_ms, "gateway session closed"),
                )
        return children

    def child_session(self, gateway_id: str, child_id: str, connected: bool, ts_ms: int, reason: str) -> None:
        """A gateway reported its child connected or disconnected (docs/device-api.md "Gateways")."""
        with self._lock:
            self._link(child_id, gateway_id)
        self._session(child_id, connected, ts_ms, reason)

    def activity(self, received: Mapping[str, int]) -> None:
        """Ingest listener: these devices sent something, received at these platform times (ms)."""
        slow: list[tuple[str, int]] = []
        with self._lock:
            for device_id, ts_ms in received.items():
                state = self._states.get(device_id)
                if state is not None and state.active:
                    if state.last_activity_ms is None or ts_ms > state.last_activity_ms:
                        state.last_activity_ms = ts_ms  # the common case: one dict lookup, one store
                    self._touched.add(device_id)
                else:
                    slow.append((device_id, ts_ms))
        for device_id, ts_ms in slow:
            state = self._state_of(device_id)
            if state is None:
                continue
            with self._lock:
                self._queue(state, activity_seen(state, ts_ms))

    def device_changed(self, device_id: str) -> None:
        """A device or its profile changed (call after the directory forgot it): take the profile's current
        inactivity timeout at once; forget a deleted device."""
        with self._lock:
            known = device_id in self._states
        if not known:
            return
        try:
            entry = self._directory.resolve(device_id)
        except NotFound:
            entry = None
        with self._lock:
            state = self._states.get(device_id)
            if state is None:
                return
            if entry is None:
                del self._states[device_id]
                self._unlink(device_id)
                self._dirty.discard(device_id)
                self._touched.discard(device_id)
            elif state.inactivity_timeout_s != entry.profile.inactivity_timeout_s:
                state.inactivity_timeout_s = entry.profile.inactivity_timeout_s
                self._dirty.add(device_id)

    def check(self) -> int:
        """Turn devices inactive whose timeout has passed and write queued events; returns events written."""
        now_ms = self._clock.now_ms()
        with self._lock:
            for state in self._states.values():
                if state.active and (state.inactive_at_ms() or now_ms) <= now_ms:
                    self._queue(state, check_inactive(state, now_ms))
            pending, self._pending = self._pending, []
        if not pending:
            return 0
        try:
            with self._uow() as uow:
                uow.connectivity.add_events(pending)
                uow.commit()
        except Exception:
            with self._lock:  # keep them for the next run; nothing is lost on a database hiccup
                self._pending[:0] = pending
            raise
        self.events_written += len(pending)
        return len(pending)

    def flush(self) -> int:
        """Write what changed since the last flush: whole states after transitions, else the last activity
        alone (one UPDATE per device instead of a delete + insert); returns how many devices were written."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            touched, self._touched = self._touched - dirty, set()
            states = [self._copy(self._states[d]) for d in dirty if d in self._states]
            activity = {
                d: last
                for d in touched
                if (state := self._states.get(d)) is not None and (last := state.last_activity_ms) is not None
            }
        if states or activity:
            try:
                with self._uow() as uow:
                    uow.connectivity.save_states(states)
                    uow.connectivity.save_activity(activity)
                    uow.commit()
            except Exception:
                with self._lock:
                    self._dirty |= dirty
                    self._touched |= touched
                raise
        return len(states) + len(activity)

    def forget(self, device_id: str) -> None:
        """Drop a deleted device's state (its events stay as history)."""
        with self._lock:
            self._states.pop(device_id, None)
            self._unlink(device_id)
            self._dirty.discard(device_id)
            self._touched.discard(device_id)

    # --- reads ----------------------------------------------------------------------------------------

    def is_connected(self, device_id: str) -> bool:
        """Whether the device has an MQTT session now (a gateway's child: connected through the gateway)."""
        with self._lock:
            state = self._states.get(device_id)
            return bool(state is not None and state.connected)

    def gateway_of(self, device_id: str) -> str | None:
        """The gateway through which a child is connected now (None: not connected through a gateway)."""
        with self._lock:
            state = self._states.get(device_id)
            return self._via.get(device_id) if state is not None and state.connected else None

    def last_activity_ms(self, device_id: str) -> int | None:
        """When the device last sent anything (platform time), for the alarm engine's `inactive` rules."""
        with self._lock:
            state = self._states.get(device_id)
            return None if state is None else state.last_activity_ms

    def get(self, principal: Principal, device_id: str) -> dict[str, Any]:
        """A device's connectivity; a gateway's child has a `connected` of its own (its gateway's word)."""
        require_reader(principal)
        with self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
        with self._lock:
            state = self._copy(self._states.get(device_id) or self._blank(device.id, device.tenant_id))
        return {
            "device_id": device.id,
            "status": state.status.value,
            "connected": state.connected,
            "active": state.active,
            "via_gateway": device.gateway_id,
            "last_activity_ms": state.last_activity_ms,
            "last_connected_ms": state.last_connected_ms,
            "last_disconnected_ms": state.last_disconnected_ms,
            "inactive_at_ms": state.inactive_at_ms(),
        }

    def events(
        self,
        principal: Principal,
        device_id: str,
        *,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ConnectivityEvent]:
        """A device's transitions in [from_ms, to_ms), newest first (queued ones are written first)."""
        require_reader(principal)
        if from_ms is not None and to_ms is not None and to_ms <= from_ms:
            raise ValidationFailed("to_ms must be after from_ms", field="to_ms")
        with self._uow() as uow:
            uow.devices.get(scope_of(principal), device_id)
        self.check()
        with self._uow() as uow:
            return uow.connectivity.list_events(
                device_id, from_ms=from_ms, to_ms=to_ms, offset=offset, limit=min(limit, MAX_EVENT_PAGE)
            )

    def summary(self, principal: Principal, group_by: str | None = None) -> dict[str, Any]:
        """Counts of devices by status for the caller's tenant(s), optionally per `site` or `tenant`."""
        if group_by not in (None, "site", "tenant"):
            raise ValidationFailed("group_by must be site or tenant", field="group_by")
        both = self.summaries(principal)
        result: dict[str, Any] = {"total": both["total"], "by_status": both["by_status"]}
        if group_by is not None:
            result["groups"] = both[group_by]
        return result

    def summaries(self, principal: Principal) -> dict[str, Any]:
        """Counts by status in total, per tenant and per site, in one pass over the devices."""
        require_reader(principal)
        totals: Counter[str] = Counter()
        tenants: dict[str, Counter[str]] = defaultdict(Counter)
        sites: dict[str, Counter[str]] = defaultdict(Counter)
        for device, status in self._statuses(principal):
            totals[status.value] += 1
            tenants[device[1]][status.value] += 1
            sites[device[2] or "none"][status.value] += 1
        return {
            "total": sum(totals.values()),
            "by_status": _complete(totals),
            "tenant": {key: _complete(counts) for key, counts in sorted(tenants.items())},
            "site": {key: _complete(counts) for key, counts in sorted(sites.items())},
        }

    def device_ids_with_status(
        self, principal: Principal, status: Status, *, offset: int = 0, limit: int = 100
    ) -> list[str]:
        """Ids of the caller's devices that have this status, in id order (one page)."""
        require_reader(principal)
        ids = sorted(device[0] for device, s in self._statuses(principal) if s is status)
        return ids[offset : offset + limit]

    # --- internals ------------------------------------------------------------------------------------

    def _statuses(self, principal: Principal) -> Iterable[tuple[tuple[str, str, str | None], Status]]:
        scope = scope_of(principal)
        with self._uow() as uow:
            assets = _all(lambda o: uow.assets.list(scope, offset=o, limit=_PAGE))  # every tenant's for None
            site_of_asset = {asset.id: asset.site_id for asset in assets}
            devices = uow.devices.placements(scope)
        with self._lock:
            for device_id, tenant_id, asset_id, _gateway_id in devices:
                state = self._states.get(device_id)
                site = site_of_asset.get(asset_id) if asset_id else None
                yield (device_id, tenant_id, site), (state.status if state is not None else Status.NEVER_SEEN)

    def _session(self, device_id: str, connected: bool, ts_ms: int, reason: str) -> None:
        state = self._state_of(device_id)
        if state is None:
            return  # not a device (the platform's own clients) or a deleted one
        with self._lock:
            self._queue(state, session_changed(state, connected, ts_ms, reason))

    def _state_of(self, device_id: str) -> DeviceConnectivity | None:
        with self._lock:
            state = self._states.get(device_id)
        if state is not None:
            return state
        try:
            entry = self._directory.resolve(device_id)
        except NotFound:
            entry = None
        if entry is None:
            return None
        with self._lock:
            return self._states.setdefault(
                device_id,
                DeviceConnectivity(device_id, entry.tenant_id, entry.profile.inactivity_timeout_s),
            )

    def _queue(self, state: DeviceConnectivity, transitions: list[Transition]) -> None:
        # under self._lock
        self._dirty.add(state.device_id)
        for t in transitions:
            self._pending.append(
                ConnectivityEvent(new_id(), state.tenant_id, state.device_id, t.ts_ms, t.kind, t.reason)
            )

    def _link(self, child_id: str, gateway_id: str) -> None:
        # under self._lock
        self._unlink(child_id)
        self._via[child_id] = gateway_id
        self._children[gateway_id].add(child_id)

    def _unlink(self, child_id: str) -> None:
        # under self._lock
        gateway_id = self._via.pop(child_id, None)
        if gateway_id is not None:
            siblings = self._children.get(gateway_id)
            if siblings is not None:
                siblings.discard(child_id)
                if not siblings:
                    del self._children[gateway_id]

    @staticmethod
    def _blank(device_id: str, tenant_id: str) -> DeviceConnectivity:
        return DeviceConnectivity(device_id, tenant_id, inactivity_timeout_s=600)

    @staticmethod
    def _copy(state: DeviceConnectivity) -> DeviceConnectivity:
        return DeviceConnectivity(
            state.device_id,
            state.tenant_id,
            state.inactivity_timeout_s,
            state.connected,
            state.active,
            state.last_activity_ms,
            state.last_connected_ms,
            state.last_disconnected_ms,
        )


def _complete(counts: Counter[str]) -> dict[str, int]:
    return {s.value: counts.get(s.value, 0) for s in Status}


def _all(fetch: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        page = fetch(len(items))
        items.extend(page)
        if len(page) < _PAGE:
            return items
