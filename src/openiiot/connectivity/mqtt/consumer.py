"""The MQTT ingest consumer: device messages → `IngestPipeline.submit`, QoS 1 acks only after the commit.

paho's network thread calls `submit`, which blocks while the ingest queue is full; the thread then stops
reading the socket, TCP flow control fills up and the broker stops sending (backpressure, architecture §5).
Acknowledgements come from the ingest worker thread: it collects the packet ids of committed messages and
wakes the network thread once through paho's socket pair (the path `publish` takes from any thread); the
network thread then writes every collected PUBACK in one packet (`_BatchingClient`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from openiiot.connectivity.mqtt.session_log import SESSION_LOG_TOPIC, MosquittoSessionTracker
from openiiot.connectivity.mqtt.topics import (
    BROKER_STATS_TOPIC,
    CONNECTIVITY_TOPIC,
    RPC_DELIVERED_TOPIC,
    TopicKind,
    parse_topic,
    wildcard_filter,
)
from openiiot.domain.errors import ConfigurationError, Overloaded
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome
from openiiot.services.ports import Clock

log = logging.getLogger(__name__)

_CHANNELS = {TopicKind.TELEMETRY: Channel.TELEMETRY, TopicKind.ATTRIBUTES: Channel.ATTRIBUTES}
# a gateway's messages for its children, split by the gateway router (services/gateway.py) before ingest
_GATEWAY_CHANNELS = {
    TopicKind.GATEWAY_CONNECT: Channel.GATEWAY_CONNECT,
    TopicKind.GATEWAY_DISCONNECT: Channel.GATEWAY_DISCONNECT,
    TopicKind.GATEWAY_TELEMETRY: Channel.GATEWAY_TELEMETRY,
    TopicKind.GATEWAY_ATTRIBUTES: Channel.GATEWAY_ATTRIBUTES,
    TopicKind.GATEWAY_RPC_RESPONSE: Channel.GATEWAY_RPC_RESPONSE,
    TopicKind.GATEWAY_ATTRIBUTES_REQUEST: Channel.GATEWAY_ATTRIBUTES_REQUEST,
}
_CHANNELS.update(_GATEWAY_CHANNELS)


def default_client_id(password: str, role: str = "ingest") -> str:
    """A stable client id that cannot be guessed without the service password.

    amqtt lets a client that presents an existing client id take that session over *before* it checks
    the credentials, so a guessable id would let anyone knock the consumer off the broker.
    """
    return f"openiiot-{role}-{hashlib.sha256(password.encode('utf-8')).hexdigest()[:16]}"


class ReconnectBackoff:
    """Exponential reconnect delay with full jitter in [delay/2, delay]; reset after a good CONNACK."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s, self.max_s = min_s, max_s
        self._failures = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """The delay before the next attempt; each call doubles the base up to `max_s`."""
        base_s = min(self.max_s, self.min_s * (2.0**self._failures))
        self._failures = min(self._failures + 1, 30)
        return base_s * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """Forget past failures."""
        self._failures = 0


_PUBACK = 0x40
_RECV_BYTES = 1 << 16


class _BatchingClient(mqtt.Client):
    """A paho client that reads the socket in large chunks and writes collected PUBACKs together.

    paho reads one packet per `select` with three or four `recv` calls (type byte, length bytes, body),
    builds an MQTTMessage per PUBLISH and writes each PUBACK with its own `send`: at thousands of messages a
    second that was most of the consumer's cost. Here `_sock_recv` serves paho's small reads from a 64 KiB
    buffer (and `loop_read` goes on while the buffer holds data, since `select` cannot see it); a QoS 0/1
    PUBLISH that lies whole in the buffer goes straight to `fast_publish`; `queue_acks` + `loop_write` send
    the PUBACKs of a committed batch as one write. Every other packet takes paho's own path. The hooks are
    paho 2.2 internals (`_packet_read`, `_sock_recv`, `_in_packet`, `_packet_queue`, `_sockpairW`;
    pyproject.toml pins paho to 2.2.x for that reason); the integration tests run against the real broker
    through them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None
        self._acks_lock = threading.Lock()
        self._acks: list[int] = []
        # (topic, payload, mid, qos) of a PUBLISH, called on the network thread instead of on_message
        self.fast_publish: Callable[[str, bytes | bytearray, int, int], None] | None = None

    def _packet_read(self) -> MQTTErrorCode:
        handler = self.fast_publish
        if handler is not None and self._in_packet["command"] == 0 and self._protocol != mqtt.MQTTv5:
            publish = self._take_publish()
            if publish is not None:
                handler(*publish)
                with self._msgtime_mutex:
                    self._last_bytes_received = time.monotonic()  # paho's clock for keep-alive
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_read()  # anything else, or a packet not yet whole in the buffer

    def _take_publish(self) -> tuple[str, bytes, int, int] | None:
        """A QoS 0/1 PUBLISH (MQTT 3.1.1 section 3.3) whole in the buffer, consumed: (topic, payload, mid,
        qos); None, consuming nothing, for any other packet, an incomplete one or an undecodable topic."""
        buf, pos = self._rbuf, self._rpos
        n = len(buf)
        if self._rsock is not self._sock or pos >= n or buf[pos] & 0xF0 != 0x30:
            return None
        qos = (buf[pos] >> 1) & 3
        if qos > 1:
            return None
        length, shift, i = 0, 0, pos + 1
        while True:
            if i >= n or shift > 21:
                return None
            byte = buf[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        end = i + length
        if end > n or length < 2:
            return None
        topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
        payload_at = topic_end + (2 if qos else 0)
        if payload_at > end:
            return None
        try:
            topic = buf[i + 2 : topic_end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        mid = (buf[topic_end] << 8) | buf[topic_end + 1] if qos else 0
        self._rpos = end
        return topic, buf[payload_at:end], mid, qos

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: what the old one left is void
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        if self._rpos >= len(self._rbuf):
            self._rbuf, self._rpos = super()._sock_recv(_RECV_BYTES), 0  # BlockingIOError: nothing yet
            if not self._rbuf:
                return b""  # the broker closed the connection
        end = self._rpos + bufsize
        chunk = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return chunk

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and self._buffered():
            rc = super().loop_read(max_packets)
        return rc

    def _buffered(self) -> bool:
        return self._rsock is self._sock and self._rpos < len(self._rbuf)

    def queue_acks(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (any thread); the network thread writes them together."""
        with self._acks_lock:
            wake = not self._acks
            self._acks.extend(mids)
        wakeup = self._sockpairW
        if wake and wakeup is not None:
            with contextlib.suppress(BlockingIOError, OSError):  # full: a wake-up is pending anyway
                wakeup.send(b"0")

    def drop_acks(self) -> None:
        """Forget collected acknowledgements (their connection is gone: the ids mean nothing now)."""
        with self._acks_lock:
            self._acks.clear()

    def _flush_acks(self) -> None:
        # under the lock until queued: a DISCONNECT queued by another thread can only come before or after
        # the whole flush, never between taking the ids and queueing their PUBACKs
        with self._acks_lock:
            mids, self._acks = self._acks, []
            if mids and self._sock is not None:
                packet = b"".join(_PUBACK_PACKET.pack(_PUBACK, 2, mid) for mid in mids)
                self._packet_queue(_PUBACK, packet, 0, 0)

    def loop_write(self) -> MQTTErrorCode:
        self._flush_acks()
        return super().loop_write()

    def disconnect(self, *args: Any, **kwargs: Any) -> MQTTErrorCode:
        self._flush_acks()  # before the DISCONNECT packet, not after it
        return super().disconnect(*args, **kwargs)


_PUBACK_PACKET = struct.Struct("!BBH")


class MqttIngestConsumer:
    """Subscribes to all devices' telemetry and client attributes and feeds the ingest pipeline."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        submit: Callable[[IngestMessage], None],
        clock: Clock,
        on_session: Callable[[str, bool, int, str], None] | None = None,
        on_rpc_response: Callable[[str, str, bytes], object] | None = None,
        on_rpc_delivered: Callable[[str, str], None] | None = None,
        client_id: str | None = None,
        share_group: str | None = None,
        keepalive_s: int = 30,
        tls: bool = False,
        session_log: bool = False,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self._submit = submit
        self._clock = clock
        self._on_session = on_session
        self._on_rpc_response = on_rpc_response
        self._on_rpc_delivered = on_rpc_delivered
        self._drain_timeout_s = drain_timeout_s
        # `$share/{group}/` lets several ingest workers split one subscription on brokers that support it
        # (Mosquitto, EMQX); amqtt 0.12 does not, so the embedded broker uses a single consumer
        self._prefix = f"$share/{share_group}/" if share_group else ""
        # an external Mosquitto announces no sessions; its log lines on `$SYS/broker/log/N` do
        self._session_log = (
            MosquittoSessionTracker(on_session, clock.now_ms, frozenset({username}))
            if session_log and on_session is not None
            else None
        )
        self.client_id = client_id or default_client_id(password)
        self._backoff = ReconnectBackoff(reconnect_min_s, reconnect_max_s)
        self._lock = threading.Lock()
        self._generation = 0  # bumped at every disconnect: acks of an older connection must not be sent
        self._outstanding = 0  # submitted, not yet done
        self._drained = threading.Condition(self._lock)
        self._accepting = False
        self.connected = threading.Event()
        self.counts: Counter[str] = Counter()
        self.broker_stats: dict[str, Any] = {}
        self._client = _BatchingClient(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False, manual_ack=True
        )
        self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set()  # the system's CA certificates (OPENIIOT_MQTT_URL=mqtts://...)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_message = self._on_message
        self._client.fast_publish = self._on_publish

    @property
    def outstanding(self) -> int:
        """Messages handed to the pipeline whose outcome has not arrived yet."""
        return self._outstanding

    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Connect (retrying with backoff in the background) and wait up to `connect_timeout_s` for it."""
        self._accepting = True
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive_s)
        self._client.loop_start()
        if not self.connected.wait(connect_timeout_s):
            self.stop()
            raise ConfigurationError(
                f"the ingest consumer could not log in to the MQTT broker at {self._host}:{self._port}"
            )

    def stop(self) -> None:
        """Stop taking new messages, wait for outstanding ones to be committed and acked, disconnect."""
        self._accepting = False
        with self._drained:
            self._drained.wait_for(lambda: self._outstanding == 0, timeout=self._drain_timeout_s)
            if self._outstanding:
                log.warning("stopping with unacknowledged messages", extra={"outstanding": self._outstanding})
            self._generation += 1
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def _topics(self) -> list[tuple[str, int]]:
        return [
            (self._prefix + wildcard_filter(TopicKind.TELEMETRY), 1),
            (self._prefix + wildcard_filter(TopicKind.ATTRIBUTES), 1),
            (BROKER_STATS_TOPIC, 0),
            (CONNECTIVITY_TOPIC, 1),
            (self._prefix + wildcard_filter(TopicKind.RPC_RESPONSE), 1),
            (RPC_DELIVERED_TOPIC, 1),
            *((self._prefix + wildcard_filter(kind), 1) for kind in _GATEWAY_CHANNELS),
        ] + ([(SESSION_LOG_TOPIC, 0)] if self._session_log is not None else [])

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            # the broker closes the connection next; on_disconnect schedules the retry
            log.error("mqtt consumer refused by the broker", extra={"reason": str(reason)})
            return
        self._backoff.reset()
        # the persistent session keeps the subscriptions; subscribing again is harmless and covers a
        # broker that lost its state (restart of the embedded broker)
        client.subscribe(self._topics())
        log.info("mqtt consumer connected", extra={"session_present": flags.session_present})
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self._generation += 1
            self._client.drop_acks()
        self.connected.clear()
        if self._accepting:
            log.warning("mqtt consumer disconnected; reconnecting", extra={"reason": str(reason)})
        self._schedule_reconnect()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        # paho waits `min_delay` before the next attempt after a reset; setting both bounds each time
        # gives our jittered exponential delay instead of paho's un-jittered doubling
        delay_s = self._backoff.next_delay_s()
        self._client.reconnect_delay_set(delay_s, delay_s)  # type: ignore[arg-type]

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            self.counts["error"] += 1
            log.warning("mqtt message with an undecodable topic left unacknowledged")
            return
        self._on_publish(topic, msg.payload, msg.mid, msg.qos)

    def _on_publish(self, topic: str, payload: bytes | bytearray, mid: int, qos: int) -> None:
        """One PUBLISH from the broker, through paho's on_message or the client's fast path."""
        try:
            self._handle(topic, payload, mid, qos)
        except Exception:
            # paho would re-raise and kill its network thread; count, log, leave the message unacked
            self.counts["error"] += 1
            log.exception("mqtt message handling failed", extra={"topic": topic})

    def _handle(self, topic: str, payload: bytes | bytearray, mid: int, qos: int) -> None:
        parsed = parse_topic(topic)
        channel = _CHANNELS.get(parsed.kind) if parsed is not None else None
        if parsed is None or channel is None:
            if topic == SESSION_LOG_TOPIC:
                if self._session_log is not None:
                    self._session_log.feed(payload.decode("utf-8", "replace"))
            elif topic == BROKER_STATS_TOPIC:
                self.broker_stats = orjson.loads(payload)
            elif topic == CONNECTIVITY_TOPIC:
                self._session_changed(payload)
            elif topic == RPC_DELIVERED_TOPIC:
                if self._on_rpc_delivered is not None:
                    body = orjson.loads(payload)
                    self._on_rpc_delivered(str(body["device_id"]), str(body["rpc_id"]))
            elif parsed is not None and parsed.kind is TopicKind.RPC_RESPONSE and parsed.rpc_id is not None:
                if self._on_rpc_response is not None:
                    self._on_rpc_response(parsed.device_id, parsed.rpc_id, bytes(payload))
                    self.counts["rpc_responses"] += 1
            else:
                self.counts["unexpected_topic"] += 1
            if qos:
                self._client.ack(mid, qos)
            return
        if not self._accepting:
            self.counts["not_accepting"] += 1  # stopping: leave unacked for redelivery
            return
        with self._lock:
            generation = self._generation
            self._outstanding += 1
        on_done = self._ack_callback(mid, qos, generation)
        message = IngestMessage(
            device_id=parsed.device_id,
            channel=channel,
            payload=bytes(payload),
            received_ms=self._clock.now_ms(),
            on_done=on_done,
        )
        try:
            self._submit(message)  # blocks while the ingest queue is full
        except Overloaded:
            self._finish()
            self.counts["overloaded"] += 1
            log.warning("ingest refused a message; left unacknowledged", extra={"topic": topic})
            return
        except BaseException:
            self._finish()
            raise
        self.counts["submitted"] += 1

    def _session_changed(self, payload: bytes | bytearray) -> None:
        # the broker's announcement of a device session opening or closing (ConnectivityPlugin)
        if self._on_session is None:
            return
        body = orjson.loads(payload)
        self._on_session(
            str(body["device_id"]), bool(body["connected"]), int(body["ts_ms"]), str(body.get("reason", ""))
        )
        self.counts["session_events"] += 1

    def _finish(self) -> None:
        with self._drained:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._drained.notify_all()

    def _ack_callback(self, mid: int, qos: int, generation: int) -> Callable[[IngestOutcome], None]:
        def on_done(_outcome: IngestOutcome) -> None:
            with self._lock:
                # a mid belongs to one connection: after a reconnect the same number may name another
                # message, so a late ack of an old connection is dropped (the broker redelivers or not)
                current = generation == self._generation
                if current and qos == 1:
                    self._client.queue_acks([mid])
                elif current and qos:
                    self._client.ack(mid, qos)
            self.counts["acked" if current else "ack_skipped_stale"] += 1
            self._finish()

        return on_done
