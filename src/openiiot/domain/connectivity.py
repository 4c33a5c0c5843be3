"""Device connectivity that does not lie: MQTT session state and activity, as two separate facts.

*Connected* is what the broker says: an MQTT session of the device is open (None: the device has never had
one, e.g. it reports over HTTP only). *Active* is what the data says: the platform received something from
the device within its profile's inactivity timeout. A device can be connected but inactive (a hung
application keeping its TCP session), or active without a session (HTTP). Every change of either fact is
an event with the time it happened, so status can be queried over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConnectivityEventKind(StrEnum):
    """What changed."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Status(StrEnum):
    """One word for a device's connectivity, as the console and the device list filter show it."""

    ACTIVE = "active"  # data within the inactivity timeout (whatever the session says)
    CONNECTED_INACTIVE = "connected-inactive"  # session open, but nothing received for too long
    DISCONNECTED = "disconnected"  # no session (any more) and nothing received for too long
    NEVER_SEEN = "never-seen"  # no session and no data since the device was created


@dataclass(frozen=True, slots=True)
class ConnectivityEvent:
    """One transition of one device."""

    id: str
    tenant_id: str
    device_id: str
    ts_ms: int
    kind: ConnectivityEventKind
    reason: str = ""


@dataclass(slots=True)
class DeviceConnectivity:
    """The current connectivity of one device (mutable: the ingest path updates it in place)."""

    device_id: str
    tenant_id: str
    inactivity_timeout_s: int
    connected: bool | None = None
    active: bool = False
    last_activity_ms: int | None = None
    last_connected_ms: int | None = None
    last_disconnected_ms: int | None = None

    @property
    def status(self) -> Status:
        """The single status word."""
        if self.active:
            return Status.ACTIVE
        if self.connected:
            return Status.CONNECTED_INACTIVE
        if self.connected is None and self.last_activity_ms is None:
            return Status.NEVER_SEEN
        return Status.DISCONNECTED

    def inactive_at_ms(self) -> int | None:
        """When the device becomes inactive if nothing more arrives (None: it is not active)."""
        if not self.active or self.last_activity_ms is None:
            return None
        return self.last_activity_ms + self.inactivity_timeout_s * 1000


@dataclass(frozen=True, slots=True)
class Transition:
    """A transition to record: which kind, when, why."""

    kind: ConnectivityEventKind
    ts_ms: int
    reason: str = ""


def session_changed(
    state: DeviceConnectivity, connected: bool, ts_ms: int, reason: str = ""
) -> list[Transition]:
    """Apply an MQTT session opening or closing; the transitions it caused (none if nothing changed)."""
    if state.connected is connected:
        return []
    state.connected = connected
    if connected:
        state.last_connected_ms = ts_ms
        return [Transition(ConnectivityEventKind.CONNECTED, ts_ms, reason)]
    state.last_disconnected_ms = ts_ms
    return [Transition(ConnectivityEventKind.DISCONNECTED, ts_ms, reason)]


def activity_seen(state: DeviceConnectivity, ts_ms: int) -> list[Transition]:
    """Record that something arrived from the device at `ts_ms` (platform time, never the device's clock)."""
    if state.last_activity_ms is None or ts_ms > state.last_activity_ms:
        state.last_activity_ms = ts_ms
    if state.active:
        return []
    state.active = True
    return [Transition(ConnectivityEventKind.ACTIVE, ts_ms)]


def check_inactive(state: DeviceConnectivity, now_ms: int) -> list[Transition]:
    """Turn an active device inactive once its timeout has passed; stamped when the timeout expired."""
    deadline = state.inactive_at_ms()
    if deadline is None or now_ms < deadline:
        return []
    state.active = False
    seconds = state.inactivity_timeout_s
    return [Transition(ConnectivityEventKind.INACTIVE, deadline, f"nothing received for {seconds} s")]
