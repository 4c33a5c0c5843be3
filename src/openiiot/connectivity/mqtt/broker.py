"""The embedded amqtt broker, run in its own process so that its event loop never competes with ingest.

`EmbeddedBroker` (platform side) spawns `run_broker` (broker side) with a picklable `BrokerRunConfig`.
The broker process imports the credentials factory named in the config and builds its own lookup, so no
database handle crosses the process boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action, BrokerConfig, ListenerConfig, ListenerType
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

from openiiot.connectivity.mqtt.plugins import CachedCredentials, DenialStats
from openiiot.connectivity.mqtt.topics import RPC_DELIVERED_TOPIC, TopicKind, parse_topic
from openiiot.domain.errors import ConfigurationError
from openiiot.services.ports import CredentialLookup

log = logging.getLogger(__name__)

_PLUGINS = "openiiot.connectivity.mqtt.plugins"
_PARENT_CHECK_S = 1.0
_background: set[asyncio.Future[Any]] = set()  # strong references to fire-and-forget tasks


@dataclass(frozen=True)
class BrokerRunConfig:
    """Everything the broker process needs; plain values only, so it pickles across `spawn`."""

    host: str
    port: int
    max_payload_bytes: int
    service_username: str
    service_password_hash: str  # SHA-256 hex (domain.credentials.hash_token)
    credentials_factory: str  # "module:function", called with `credentials_arg`, returns a CredentialLookup
    credentials_arg: str
    credential_cache_ttl_s: float = 2.0  # rotation, disabling and deletion take effect within this time
    stats_interval_s: float = 5.0


class _RequeueingHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """Keeps QoS 1/2 messages whose delivery a disconnect interrupted, for redelivery on session resume.

    amqtt 0.12 forgets an unacknowledged outgoing message when the connection drops (the PUBACK wait is
    cancelled and the in-flight entry discarded), so at-least-once to a persistent session would not hold.
    A PUBACK *timeout* (5 s in amqtt) is not requeued: the message is still on its way to a slow consumer,
    and resending it under backpressure would only add load.
    """

    async def _report_delivery(self, topic: str) -> None:
        # the device (or the gateway of a child) acknowledged (PUBACK) a command: tell the platform, which
        # marks it DELIVERED
        parsed = parse_topic(topic)
        if parsed is None or parsed.kind not in (TopicKind.RPC_REQUEST, TopicKind.GATEWAY_RPC_REQUEST):
            return
        body = orjson.dumps(
            {"device_id": parsed.device_id, "rpc_id": parsed.rpc_id, "ts_ms": int(time.time() * 1000)}
        )
        await self.plugins_manager.context.broadcast_message(RPC_DELIVERED_TOPIC, body, 1)

    def handle_read_timeout(self) -> None:
        # amqtt 0.12 ignores an expired keep-alive, so a device that vanished without DISCONNECT (power
        # cut, mobile link lost) would stay "connected" forever; close its connection as MQTT requires
        stats: DenialStats | None = getattr(self, "openiiot_stats", None)
        if stats is not None:
            stats.count_event("keep_alive_expired")
        task = asyncio.ensure_future(self.handle_connection_closed())
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def mqtt_publish(
        self,
        topic: str,
        data: bytes | bytearray,
        qos: int | None,
        retain: bool,
        ack_timeout: int | None = None,
    ) -> Any:
        session = self.session
        try:
            result = await super().mqtt_publish(topic, data, qos, retain, ack_timeout)
            if qos:
                await self._report_delivery(topic)
            return result
        except TimeoutError:
            # counted instead of amqtt's traceback per message: a slow consumer, not a broker failure
            stats: DenialStats | None = getattr(self, "openiiot_stats", None)
            if stats is not None:
                stats.count_event("puback_timeout")
            return None
        except asyncio.CancelledError:
            if qos and session is not None and not session.clean_session:
                session.retained_messages.put_nowait(RetainedApplicationMessage(None, topic, data, qos))
                stats = getattr(self, "openiiot_stats", None)
                if stats is not None:
                    stats.count_event("requeued_after_disconnect")
            raise


class SnapshotSubscriptions(dict[str, Any]):
    """amqtt 0.12's subscription table, iterated over a snapshot.

    amqtt loops over the table with awaits inside (`_run_broadcast`, the retained messages at a connect);
    a client subscribing meanwhile made the loop fail with "dictionary changed size during iteration", which
    dropped that message for the subscribers not yet served (seen at every first `openiiot demo`, when
    twelve devices connect and subscribe at once). A loop now sees the table as it was when it began.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(dict.items(self))


class _LimitedBroker(Broker):  # type: ignore[misc]
    """amqtt's Broker plus a payload size limit, redelivery after disconnects, and refused-session cleanup."""

    def __init__(self, config: BrokerConfig, *, max_payload_bytes: int, stats: DenialStats) -> None:
        super().__init__(config)
        self._subscriptions = SnapshotSubscriptions(self.subscriptions)
        self._max_payload_bytes = max_payload_bytes
        self._stats = stats

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
        # amqtt 0.12 private hook (pinned <0.13): the one place that sees every PUBLISH before routing
        message = wait_deliver.result()
        if message is not None and message.data is not None and len(message.data) > self._max_payload_bytes:
            self._stats.record(
                "payload_too_large",
                client_session.client_id,
                f"{len(message.data)} bytes on {message.topic}",
            )
            return True  # drop it, keep the connection (the device already has its PUBACK)
        result: bool = await super()._handle_message_delivery(client_session, handler, wait_deliver)
        return result

    async def _publish_retained_messages_for_subscription(self, subscription: Any, session: Any) -> None:
        # amqtt 0.12 calls this at connect for *every* filter any client holds and does not apply the topic
        # ACL, so a device would receive other devices' retained messages; serve only the session's own
        # filters, and only topics the ACL lets the session receive
        topic_filter, qos = subscription
        holders = self._subscriptions.get(topic_filter, [])
        handler = self._get_handler(session)
        if handler is None or not any(held.client_id == session.client_id for held, _ in holders):
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(
                session, topic, Action.RECEIVE
            ):
                publish = handler.mqtt_publish(
                    topic, retained.data, min(qos, retained.qos or qos), retain=True
                )
                tasks.append(asyncio.create_task(publish))
        if tasks:
            await asyncio.wait(tasks)

    async def _handle_client_session(
        self, reader: Any, writer: Any, client_session: Any, handler: Any, server: Any, listener_name: str
    ) -> None:
        # amqtt 0.12 leaves a session whose authentication failed in state "connected" forever: a leak per
        # refused attempt, and a false "connected" count. Mark it disconnected; drop it unless it is an
        # existing persistent session that belongs to a legitimate client (parent == 1).
        if type(handler) is BrokerProtocolHandler:
            handler.__class__ = _RequeueingHandler  # adds behaviour only, no state: safe to swap
            handler.openiiot_stats = self._stats
        if client_session.keep_alive > 0:
            # MQTT-3.1.2-24: the server closes the connection after 1.5 x keep-alive without a packet
            # (amqtt waits exactly keep-alive for the next packet; see handle_read_timeout)
            client_session.keep_alive = math.ceil(client_session.keep_alive * 1.5)
        await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)
        if not client_session.transitions.is_connected():
            return
        client_session.transitions.disconnect()
        entry = self._sessions.get(client_session.client_id)
        if entry is not None and entry[0] is client_session and client_session.parent == 0:
            del self._sessions[client_session.client_id]


def load_credentials(factory: str, arg: str) -> CredentialLookup:
    """Import `module:function` and call it with `arg`."""
    module_name, _, attr = factory.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"credentials factory {factory!r} must look like 'package.module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import credentials factory {factory!r}: {exc}") from exc
    lookup: CredentialLookup = function(arg)
    return lookup


def build_broker_config(
    config: BrokerRunConfig, lookup: CredentialLookup, stats: DenialStats
) -> BrokerConfig:
    """The amqtt configuration: one TCP listener, our three plugins and nothing else."""
    credentials = CachedCredentials(lookup, ttl_s=config.credential_cache_ttl_s)
    return BrokerConfig(
        listeners={"default": ListenerConfig(type=ListenerType.TCP, bind=f"{config.host}:{config.port}")},
        plugins={
            f"{_PLUGINS}.DeviceAuthPlugin": {
                "credentials": credentials,
                "stats": stats,
                "service_username": config.service_username,
                "service_password_hash": config.service_password_hash,
            },
            f"{_PLUGINS}.DeviceTopicAclPlugin": {
                "stats": stats,
                "service_username": config.service_username,
                "stats_interval_s": config.stats_interval_s,
            },
            f"{_PLUGINS}.ConnectivityPlugin": {"service_username": config.service_username},
        },
    )


async def _serve(config: BrokerRunConfig, ready: Connection | None) -> None:
    lookup = load_credentials(config.credentials_factory, config.credentials_arg)
    stats = DenialStats()
    broker = _LimitedBroker(
        build_broker_config(config, lookup, stats), max_payload_bytes=config.max_payload_bytes, stats=stats
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C reaches the whole process group; the platform process decides when the broker stops (last,
    # after the consumer has drained), so the broker ignores SIGINT and stops on SIGTERM from its parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    log.info("mqtt broker listening", extra={"host": config.host, "port": config.port})
    if ready is not None:
        ready.send(("ready", ""))
    parent_pid = os.getppid()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            log.warning("platform process is gone; stopping the broker")
            break
    await broker.shutdown()
    close = getattr(lookup, "close", None)
    if callable(close):
        close()


def run_broker(config: BrokerRunConfig, ready: Connection | None = None) -> None:
    """Run the broker until SIGTERM/SIGINT (blocking); report ("ready"|"error", text) on `ready` if given."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s [broker] %(message)s")
    try:
        asyncio.run(_serve(config, ready))
    except Exception as exc:
        if ready is not None:
            with contextlib.suppress(OSError):
                ready.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        if ready is not None:
            ready.close()


def _port_in_use_error(host: str, port: int, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"MQTT port {port} is already in use on {host} ({why}); "
        "stop the other program or set OPENIIOT_MQTT_PORT to a free port"
    )


class EmbeddedBroker:
    """Starts and stops the broker process (multiprocessing "spawn" context)."""

    def __init__(self, config: BrokerRunConfig, *, start_timeout_s: float = 30.0) -> None:
        self.config = config
        self._start_timeout_s = start_timeout_s
        self._process: BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the broker while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the broker and return once it accepts connections; ConfigurationError if it cannot."""
        host, port = self.config.host, self.config.port
        self._check_port_free()
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=run_broker, args=(self.config, sender), name="openiiot-broker", daemon=True
        )
        process.start()
        sender.close()  # the child holds its own copy; EOF on `receiver` now means the child is gone
        self._process = process
        try:
            status, text = self._await_ready(receiver, process)
        finally:
            receiver.close()
        if status != "ready":
            self.stop()
            if "address already in use" in text.lower() or "errno 98" in text.lower():
                raise _port_in_use_error(host, port, text)
            raise ConfigurationError(f"the embedded MQTT broker failed to start on {host}:{port}: {text}")
        log.info("embedded mqtt broker started", extra={"pid": process.pid, "host": host, "port": port})

    def _check_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR as the broker itself uses it, so TIME_WAIT leftovers do not count as "in use"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.config.host, self.config.port))
            except OSError as exc:
                raise _port_in_use_error(self.config.host, self.config.port, str(exc)) from exc

    def _await_ready(self, receiver: Connection, process: BaseProcess) -> tuple[str, str]:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if receiver.poll(0.1):
                try:
                    status, text = receiver.recv()
                except EOFError:
                    process.join(2.0)  # EOF: the child died before reporting; collect its exit code
                    return "error", f"the broker process exited with code {process.exitcode}"
                return str(status), str(text)
            if not process.is_alive():
                return "error", f"the broker process exited with code {process.exitcode}"
        return "error", f"no answer within {self._start_timeout_s:.0f} s"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the broker to shut down (SIGTERM), wait, and kill it if it does not stop in time."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(timeout_s)
            if process.is_alive():
                log.warning("broker did not stop in time; killing it", extra={"pid": process.pid})
                process.kill()
                process.join(timeout_s)
        process.close()
