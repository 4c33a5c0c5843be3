"""Many paho-mqtt clients, one per device, driven by one thread through one selector."""

from __future__ import annotations

import contextlib
import logging
import random
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)

_MISC_INTERVAL_S = 1.0  # paho's keep-alive and retry bookkeeping wants a call about every second
_RECONNECT_MIN_S = 1.0
_RECONNECT_MAX_S = 30.0


@dataclass(slots=True)
class PoolStats:
    """Counters of one pool (read them from any thread; they are only approximate there)."""

    connected: int = 0
    published: int = 0
    acked: int = 0
    dropped: int = 0  # not sent because the device was not connected
    connect_failures: int = 0


@dataclass(slots=True)
class _Conn:
    client: mqtt.Client
    device_id: str
    connected: bool = False
    retry_at: float = 0.0
    backoff_s: float = _RECONNECT_MIN_S
    ever_connected: bool = False


class MqttClientPool:
    """One MQTT connection per device (username = device id, password = token); not thread-safe.

    Every method must be called from the thread that owns the pool. Publishing writes to the socket
    at once (paho's own behaviour without a loop thread); `pump` reads acknowledgements, flushes what
    did not fit, keeps connections alive and reconnects dropped ones with jittered back-off.
    """

    def __init__(
        self,
        host: str,
        port: int,
        keepalive_s: int = 60,
        max_inflight: int = 100,
        on_request: Callable[[str, str, bytes], bytes] | None = None,
    ) -> None:
        self.host = host
        self.on_request = on_request  # answers a command: (device id, rpc id, request) -> response
        self.port = port
        self.keepalive_s = keepalive_s
        self.max_inflight = max_inflight
        self.stats = PoolStats()
        self._conns: dict[str, _Conn] = {}
        self._selector = selectors.DefaultSelector()
        self._last_misc = 0.0
        self._jitter = random.Random()

    def __len__(self) -> int:
        return len(self._conns)

    def add(self, device_id: str, token: str) -> None:
        """Create the client of one device (connect later with `connect_all`)."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=True)
        client.username_pw_set(device_id, token)
        client.max_inflight_messages_set(self.max_inflight)
        conn = _Conn(client, device_id)
        client.user_data_set(conn)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_message = self._on_message
        self._conns[device_id] = conn

    def connect_all(self, timeout_s: float) -> int:
        """Connect every client and wait for their CONNACKs; return how many are connected."""
        for conn in self._conns.values():
            self._try_connect(conn)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.stats.connected < len(self._conns):
            self.pump(0.05)
        return self.stats.connected

    def is_connected(self, device_id: str) -> bool:
        """True once the broker accepted the device's connection and it has not dropped."""
        return self._conns[device_id].connected

    def publish(self, device_id: str, topic: str, payload: bytes, qos: int = 1) -> bool:
        """Publish for one device; False (and counted as dropped) when it is not connected."""
        conn = self._conns[device_id]
        if not conn.connected:
            self.stats.dropped += 1
            return False
        info = conn.client.publish(topic, payload, qos=qos)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            self.stats.dropped += 1
            return False
        self.stats.published += 1
        if qos == 0:
            self.stats.acked += 1
        return True

    @property
    def outstanding(self) -> int:
        """Messages published but not yet acknowledged by the broker."""
        return self.stats.published - self.stats.acked

    def pump(self, timeout_s: float) -> None:
        """Serve the network once: read what arrived (waiting up to `timeout_s`), write, keep alive."""
        if self._selector.get_map():
            for key, _ in self._selector.select(timeout_s):
                self._read(key.data)
        elif timeout_s > 0:
            time.sleep(timeout_s)  # nothing to wait on: all connections are down and backing off
        for conn in self._conns.values():
            if conn.client.want_write():
                self._check(conn, conn.client.loop_write())
        now = time.monotonic()
        if now - self._last_misc >= _MISC_INTERVAL_S:
            self._last_misc = now
            for conn in self._conns.values():
                if conn.client.socket() is not None:
                    self._check(conn, conn.client.loop_misc())
                elif now >= conn.retry_at:
                    self._try_connect(conn)

    def drain(self, timeout_s: float) -> bool:
        """Pump until every published message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.outstanding > 0 and time.monotonic() < deadline:
            self.pump(0.05)
        return self.outstanding == 0

    def close(self) -> None:
        """Disconnect every client politely and release the sockets."""
        for conn in self._conns.values():
            if conn.client.socket() is not None:
                conn.client.disconnect()
                conn.client.loop_write()
        for conn in self._conns.values():
            if conn.client.socket() is not None:
                conn.client.loop_misc()
        self._selector.close()

    def _read(self, conn: _Conn) -> None:
        self._check(conn, conn.client.loop_read(10))

    def _check(self, conn: _Conn, rc: MQTTErrorCode) -> None:
        failed = rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN)
        # paho has closed the socket already; reconnect after the back-off unless one is pending
        if failed and conn.retry_at <= time.monotonic():
            self._schedule_retry(conn)

    def _try_connect(self, conn: _Conn) -> None:
        try:
            if conn.ever_connected or conn.client.socket() is not None:
                conn.client.reconnect()
            else:
                conn.client.connect(self.host, self.port, self.keepalive_s)
        except OSError as exc:
            self.stats.connect_failures += 1
            log.warning("device connection failed", extra={"device_id": conn.device_id, "error": str(exc)})
            self._schedule_retry(conn)

    def _schedule_retry(self, conn: _Conn) -> None:
        conn.retry_at = time.monotonic() + conn.backoff_s * self._jitter.uniform(0.5, 1.5)
        conn.backoff_s = min(conn.backoff_s * 2.0, _RECONNECT_MAX_S)

    def _on_connect(self, client: mqtt.Client, conn: _Conn, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.stats.connect_failures += 1
            log.warning("broker refused device", extra={"device_id": conn.device_id, "reason": str(reason)})
            return
        conn.connected = True
        conn.ever_connected = True
        conn.backoff_s = _RECONNECT_MIN_S
        self.stats.connected += 1
        if self.on_request is not None:
            client.subscribe(f"v1/devices/{conn.device_id}/rpc/request/+", qos=1)

    def _on_message(self, client: mqtt.Client, conn: _Conn, msg: mqtt.MQTTMessage) -> None:
        # a command request (the only subscription): answer on the response topic of the same id
        if self.on_request is None:
            return
        rpc_id = msg.topic.rsplit("/", 1)[-1]
        answer = self.on_request(conn.device_id, rpc_id, bytes(msg.payload))
        client.publish(f"v1/devices/{conn.device_id}/rpc/response/{rpc_id}", answer, qos=1)

    def _on_disconnect(self, client: mqtt.Client, conn: _Conn, flags: Any, reason: Any, props: Any) -> None:
        if conn.connected:
            conn.connected = False
            self.stats.connected -= 1
        if conn.retry_at <= time.monotonic():
            self._schedule_retry(conn)

    def _on_publish(self, client: mqtt.Client, conn: _Conn, mid: int, reason: Any, props: Any) -> None:
        self.stats.acked += 1

    def _on_socket_open(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _on_socket_close(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        # KeyError: never registered; ValueError: the selector is already closed
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
