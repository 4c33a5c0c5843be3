"""Device sessions on an external Mosquitto, read from the broker's own log published on `$SYS/broker/log/N`.

Mosquitto has no per-client connect/disconnect events a client can subscribe to, but with
`log_dest topic` it publishes its log lines, and its notices name each client that connects (with its
username) and each that leaves. This turns those lines into the same session announcements the embedded
broker's `ConnectivityPlugin` makes: a device is connected from its first open client id to its last.
Platform clients (the service user, client ids `openiiot-*`) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: where Mosquitto publishes notice-level log lines when `log_dest topic` is configured
SESSION_LOG_TOPIC = "$SYS/broker/log/N"

# "New client connected from 127.0.0.1:35919 as my-client (p2, c1, k60, u'dev1')."
_CONNECTED = re.compile(
    r"New client connected from \S+ as (?P<cid>.+) \(p\d+, c\d+, k\d+(?:, u'(?P<user>.*)')?\)\.$"
)
# "Client X disconnected." / "... closed its connection." / "... has exceeded timeout, disconnecting." /
# "... been disconnected by administrative action." / "... disconnected due to ..." / "... disconnected, ..."
_GONE = re.compile(
    r"Client (?P<cid>.+?) (?:disconnected\b.*|closed its connection\.|"
    r"has exceeded timeout, disconnecting\.|been disconnected by administrative action\.)$"
)
_SOCKET_ERROR = re.compile(r"Socket error on client (?P<cid>.+), disconnecting\.$")
_TIMESTAMP = re.compile(r"^\d+: ")


class MosquittoSessionTracker:
    """Feeds log lines, calls `on_session(device_id, connected, ts_ms, reason)` on first open / last close."""

    def __init__(
        self,
        on_session: Callable[[str, bool, int, str], None],
        now_ms: Callable[[], int],
        ignore_usernames: frozenset[str] = frozenset(),
        reserved_prefix: str = "openiiot-",
    ) -> None:
        self._on_session = on_session
        self._now_ms = now_ms
        self._ignore = ignore_usernames
        self._reserved = reserved_prefix
        self._owner: dict[str, str] = {}  # client id → device id
        self._open: dict[str, set[str]] = {}  # device id → its open client ids

    def feed(self, line: str) -> None:
        """One log line (with or without Mosquitto's `<seconds>: ` prefix)."""
        text = _TIMESTAMP.sub("", line.strip(), count=1)
        connected = _CONNECTED.match(text)
        if connected is not None:
            self._connected(connected.group("cid"), connected.group("user"))
            return
        gone = _GONE.match(text) or _SOCKET_ERROR.match(text)
        if gone is not None:
            client_id = gone.group("cid")
            reason = text.removeprefix(f"Client {client_id} ").rstrip(".")
            self._gone(client_id, reason)

    def _connected(self, client_id: str, username: str | None) -> None:
        if not username or username in self._ignore or client_id.startswith(self._reserved):
            return
        previous = self._owner.get(client_id)
        if previous is not None and previous != username:
            self._gone(client_id, "client id taken over")
        self._owner[client_id] = username
        clients = self._open.setdefault(username, set())
        first = not clients
        clients.add(client_id)
        if first:
            self._on_session(username, True, self._now_ms(), "")

    def _gone(self, client_id: str, reason: str) -> None:
        device_id = self._owner.pop(client_id, None)
        if device_id is None:
            return
        clients = self._open.get(device_id)
        if clients is None:
            return
        clients.discard(client_id)
        if not clients:
            del self._open[device_id]
            self._on_session(device_id, False, self._now_ms(), reason or "session closed")
