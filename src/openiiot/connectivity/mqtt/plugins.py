"""amqtt plugins of the embedded broker: device authentication, the per-device topic ACL, denial counters.

They run inside the broker process only. Their collaborators (the credential lookup, the shared
`DenialStats`) are handed in through the plugin `Config` dataclasses, which amqtt fills from the broker
configuration built by `broker.run_broker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin
from amqtt.session import Session

from openiiot.connectivity.mqtt.topics import (
    BROKER_STATS_TOPIC,
    CONNECTIVITY_TOPIC,
    device_may_publish,
    device_may_subscribe,
    parse_topic,
)
from openiiot.domain.credentials import token_matches
from openiiot.services.ports import CredentialLookup, DeviceCredential

log = logging.getLogger(__name__)

#: client ids starting with this are reserved for platform clients; devices may not take them over
RESERVED_CLIENT_ID_PREFIX = "openiiot-"
_MAX_LOGGED_PAIRS = 10_000  # bound on (reason, client) pairs remembered to log each only once


class DenialStats:
    """Counts refused connections and actions by reason; logs the first of each (reason, client) pair.

    Also counts delivery events that are not denials (`puback_timeout`, `requeued_after_disconnect`).
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._events: Counter[str] = Counter()
        self._logged: set[tuple[str, str]] = set()

    def count_event(self, name: str) -> None:
        """Count one delivery event."""
        self._events[name] += 1

    def record(self, reason: str, client_id: str | None, detail: str = "") -> None:
        """Count one denial; log it unless the same client was already logged for the same reason."""
        self._counts[reason] += 1
        key = (reason, client_id or "")
        if key in self._logged:
            return
        if len(self._logged) >= _MAX_LOGGED_PAIRS:
            self._logged.clear()
        self._logged.add(key)
        log.warning(
            "mqtt denied: %s (client %s) %s",
            reason,
            client_id,
            detail,
            extra={"reason": reason, "client_id": client_id, "detail": detail},
        )

    def snapshot(self) -> dict[str, int]:
        """The denial counts so far, by reason."""
        return dict(self._counts)

    def events(self) -> dict[str, int]:
        """The delivery event counts so far."""
        return dict(self._events)


class CachedCredentials:
    """Credential lookups cached for a short TTL, run off the event loop (the lookup is blocking SQL)."""

    def __init__(self, lookup: CredentialLookup, ttl_s: float, max_entries: int = 100_000) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, DeviceCredential | None]] = {}

    async def get(self, device_id: str) -> DeviceCredential | None:
        """The credential of `device_id` (None if unknown), at most `ttl_s` old."""
        now_s = time.monotonic()
        hit = self._entries.get(device_id)
        if hit is not None and hit[0] > now_s:
            return hit[1]
        credential = await asyncio.to_thread(self._lookup.lookup, device_id)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # crude but bounded; entries live seconds only anyway
        self._entries[device_id] = (now_s + self._ttl_s, credential)
        return credential


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


class DeviceAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Username = device id, password = access token; the platform service user has its own password."""

    @dataclass
    class Config:
        """Injected by `run_broker`: `credentials` is a CachedCredentials, `stats` the DenialStats."""

        credentials: Any
        stats: Any
        service_username: str
        service_password_hash: str

    async def authenticate(self, *, session: Session) -> bool | None:
        """True only for a known, enabled device with its token, or the service user with its password."""
        cfg = self.config
        stats: DenialStats = cfg.stats
        username, password = _text(session.username), _text(session.password)
        client_id = session.client_id
        if not username:
            stats.record("auth_anonymous", client_id)
            return False
        if username == cfg.service_username:
            if token_matches(password, cfg.service_password_hash):
                return True
            stats.record("auth_bad_service_password", client_id)
            return False
        if client_id and client_id.startswith(RESERVED_CLIENT_ID_PREFIX):
            stats.record("auth_reserved_client_id", client_id, f"device {username}")
            return False
        try:
            credential = await cfg.credentials.get(username)
        except Exception:
            # a failing database must not crash the broker; refuse and let the device retry
            log.exception("credential lookup failed", extra={"device_id": username})
            stats.record("auth_lookup_error", client_id, f"device {username}")
            return False
        if credential is None:
            stats.record("auth_unknown_device", client_id, f"device {username}")
            return False
        if credential.disabled:
            stats.record("auth_device_disabled", client_id, f"device {username}")
            return False
        if not token_matches(password, credential.token_hash):
            stats.record("auth_bad_token", client_id, f"device {username}")
            return False
        return True


class DeviceTopicAclPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """A device publishes and subscribes only under its own id; the service user may do everything.

    Also publishes the denial counters, retained, on `BROKER_STATS_TOPIC` every `stats_interval_s`.
    """

    @dataclass
    class Config:
        """Injected by `run_broker`."""

        stats: Any
        service_username: str
        stats_interval_s: float = 5.0

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._stats_task: asyncio.Task[None] | None = None

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool | None:
        """Allow or refuse one publish, subscribe or delivery."""
        if session is None or topic is None:
            return False
        device_id = _text(session.username)
        if device_id == self.config.service_username:
            return True
        stats: DenialStats = self.config.stats
        if action == Action.PUBLISH:
            if device_may_publish(device_id, topic):
                return True
            stats.record("publish_denied", session.client_id, f"device {device_id} topic {topic}")
            return False
        if action == Action.SUBSCRIBE:
            if device_may_subscribe(device_id, topic):
                return True
            stats.record("subscribe_denied", session.client_id, f"device {device_id} filter {topic}")
            return False
        # RECEIVE: subscriptions were checked already; this guards a device that took over another
        # client's persistent session (same client id), which would inherit that session's subscriptions
        parsed = parse_topic(topic)
        if parsed is not None and parsed.device_id == device_id:
            return True
        stats.record("receive_denied", session.client_id, f"device {device_id} topic {topic}")
        return False

    async def on_broker_post_start(self) -> None:
        """Start publishing the counters once the listeners are up."""
        self._stats_task = asyncio.create_task(self._publish_stats_forever())

    async def close(self) -> None:
        """Stop the counter publisher."""
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats_task

    async def _publish_stats_forever(self) -> None:
        while True:
            try:
                await self.publish_stats()
            except Exception:
                log.exception("publishing broker stats failed")
            await asyncio.sleep(self.config.stats_interval_s)

    async def publish_stats(self) -> None:
        """Publish the counters now: retained for late subscribers, and to current subscribers."""
        sessions = list(self.context.sessions)
        body = {
            "ts_ms": int(time.time() * 1000),
            "denied": self.config.stats.snapshot(),
            "events": self.config.stats.events(),
            "sessions": len(sessions),
            "connected": sum(1 for s in sessions if s.transitions.state == "connected"),
        }
        data = orjson.dumps(body)
        await self.context.retain_message(BROKER_STATS_TOPIC, data, 0)
        await self.context.broadcast_message(BROKER_STATS_TOPIC, data, 0)


class ConnectivityPlugin(BasePlugin):  # type: ignore[misc]
    """Announces when a device's first MQTT session opens and its last one closes (docs/connectivity.md).

    Tracked per device (the username) as the set of its open client ids: a device may hold sessions under
    several client ids. A take-over (the same client id connecting again) replaces the session without
    a disconnect event for the old one in amqtt 0.12, and if one does arrive after the new connection it
    is recognised because the broker's session for that client id is connected again.
    """

    @dataclass
    class Config:
        """Injected by `run_broker`."""

        service_username: str

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._open: dict[str, set[str]] = {}

    async def on_broker_client_connected(self, *, client_id: str, client_session: Session) -> None:
        """A session was accepted."""
        device_id = _text(client_session.username)
        if not device_id or device_id == self.config.service_username:
            return
        clients = self._open.setdefault(device_id, set())
        first = not clients
        clients.add(client_id)
        if first:
            await self._announce(device_id, connected=True, reason="")

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Session) -> None:
        """A session ended (DISCONNECT, keep-alive expiry, network loss)."""
        device_id = _text(client_session.username)
        clients = self._open.get(device_id)
        if not clients or client_id not in clients:
            return
        current = self.context.get_session(client_id)
        if current is not None and current is not client_session and current.transitions.is_connected():
            return  # the end of a connection that a newer one with the same client id already replaced
        clients.discard(client_id)
        if not clients:
            del self._open[device_id]
            await self._announce(device_id, connected=False, reason="session closed")

    async def _announce(self, device_id: str, *, connected: bool, reason: str) -> None:
        body = {
            "device_id": device_id,
            "connected": connected,
            "ts_ms": int(time.time() * 1000),
            "reason": reason,
        }
        try:
            await self.context.broadcast_message(CONNECTIVITY_TOPIC, orjson.dumps(body), 1)
        except Exception:
            log.exception("announcing a session change failed", extra={"device_id": device_id})
