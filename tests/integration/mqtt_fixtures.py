"""Shared MQTT test fixtures: a real embedded broker process on a free port, and real paho clients."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.polling import wait_for

from openiiot.connectivity.mqtt.broker import BrokerRunConfig, EmbeddedBroker
from openiiot.domain.credentials import hash_token
from openiiot.services.ports import DeviceCredential

SERVICE_USER = "openiiot-platform"
SERVICE_PASSWORD = "service-secret-for-tests"
MAX_PAYLOAD_BYTES = 4096


class JsonCredentialLookup:
    """Credentials from a JSON file `{device_id: {"tenant_id", "token", "disabled"}}`, re-read per lookup."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    def lookup(self, device_id: str) -> DeviceCredential | None:
        entry = json.loads(self._path.read_text(encoding="utf-8")).get(device_id)
        if entry is None:
            return None
        return DeviceCredential(
            device_id=device_id,
            tenant_id=entry.get("tenant_id", "t1"),
            token_hash=hash_token(entry["token"]),
            disabled=bool(entry.get("disabled", False)),
        )


def open_json_credentials(path: str) -> JsonCredentialLookup:
    """The credentials factory the broker process imports (`mqtt_fixtures:open_json_credentials`)."""
    return JsonCredentialLookup(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class BrokerHandle:
    """A running broker process and the credentials file it reads."""

    port: int
    credentials_path: Path
    broker: EmbeddedBroker
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set_device(self, device_id: str, token: str, *, disabled: bool = False) -> None:
        self.devices[device_id] = {"tenant_id": "t1", "token": token, "disabled": disabled}
        self.credentials_path.write_text(json.dumps(self.devices), encoding="utf-8")

    def remove_device(self, device_id: str) -> None:
        self.devices.pop(device_id, None)
        self.credentials_path.write_text(json.dumps(self.devices), encoding="utf-8")


def broker_config(port: int, credentials_path: Path, **overrides: Any) -> BrokerRunConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "max_payload_bytes": MAX_PAYLOAD_BYTES,
        "service_username": SERVICE_USER,
        "service_password_hash": hash_token(SERVICE_PASSWORD),
        "credentials_factory": "mqtt_fixtures:open_json_credentials",
        "credentials_arg": str(credentials_path),
        "credential_cache_ttl_s": 0.5,
        "stats_interval_s": 0.5,
    }
    values.update(overrides)
    return BrokerRunConfig(**values)


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[BrokerHandle]:
    """A broker process on a free port, with devices dev-a (token tok-a) and dev-b (token tok-b)."""
    path = tmp_path / "credentials.json"
    handle = BrokerHandle(port=free_port(), credentials_path=path, broker=None)  # type: ignore[arg-type]
    handle.set_device("dev-a", "tok-a")
    handle.set_device("dev-b", "tok-b")
    handle.broker = EmbeddedBroker(broker_config(handle.port, path))
    handle.broker.start()
    try:
        yield handle
    finally:
        handle.broker.stop()


class Client:
    """A blocking wrapper around a paho client, recording what it receives."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str = "") -> None:
        self.port = port
        self.connect_reason: Any = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.messages: list[mqtt.MQTTMessage] = []
        self.subacks: dict[int, list[Any]] = {}
        self.pubacks: set[int] = set()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.pubacks.add(mid)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.disconnected.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[Any], _props: Any) -> None:
        self.subacks[mid] = reasons

    def connect(self, timeout_s: float = 10.0) -> Any:
        """Connect and return the CONNACK reason code (no automatic reconnects)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout_s):
            raise AssertionError("no CONNACK")
        if self.connect_reason.is_failure:
            self.close()  # otherwise paho keeps retrying in the background
        return self.connect_reason

    def subscribe(self, topic: str, qos: int = 1) -> list[Any]:
        _rc, mid = self.client.subscribe(topic, qos)
        wait_for(lambda: mid in self.subacks, 10, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            wait_for(lambda: info.mid in self.pubacks, 10, f"PUBACK for {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    """Factory of connected-on-demand clients, all closed at the end of the test."""
    made: list[Client] = []

    def make(port: int, username: str | None, password: str | None, client_id: str = "") -> Client:
        client = Client(port, username, password, client_id)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
