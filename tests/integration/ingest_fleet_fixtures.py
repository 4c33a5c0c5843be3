"""Broker-fault tests' cast: real ingest worker processes, devices that count what they sent, the store.

Ingest workers run as real `openiiot serve --role ingest` processes on one PostgreSQL database. Devices
with persistent sessions (clean session off) publish numbered QoS 1 messages at RATE_HZ; paho queues them
while the broker is away and sends them when it is back. A test module provides a `broker` fixture (its
Mosquitto, with the persistence settings under test) and compares what every device sent with what is stored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.mosquitto_fixtures import Mosquitto, start_mosquitto, stop_mosquitto
from tests.polling import wait_for
from tests.postgres_support import temporary_database
from tests.unit.management_fixtures import PLATFORM_ADMIN

from openiiot.bootstrap import Platform, build_platform
from openiiot.settings import load_settings
from openiiot.sim.mqtt_pool import free_tcp_port

KEYS = 3
DEVICES = 4
RATE_HZ = 10.0  # messages per second per device
PLAIN_TOPIC = "v1/devices/+/telemetry"
SHARED_TOPIC = "$share/openiiot-ingest/" + PLAIN_TOPIC
SETTING_MARK = "# persistence setting under test"  # `use_setting` replaces what follows it


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto with the deploy-broker.md settings.

    Persistence on, and a queue deep enough for a worker that is away; `log_type subscribe` lets a test
    see when the workers have subscribed again.
    """
    running = start_mosquitto(
        tmp_path / "mosquitto",
        persistence=True,
        extra_conf=f"max_queued_messages 1000000\nlog_type subscribe\n{SETTING_MARK}",
    )
    try:
        yield running
    finally:
        stop_mosquitto(running)


def use_setting(broker: Mosquitto, conf: str) -> None:
    """Replace the persistence setting in the broker's configuration (read at its next start)."""
    path = broker.directory / "mosquitto.conf"
    kept = path.read_text(encoding="utf-8").split(SETTING_MARK)[0]
    path.write_text(f"{kept}{SETTING_MARK}\n{conf}\n", encoding="utf-8")


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


class Worker:
    """`openiiot serve --role ingest` in its own process, output in a file."""

    def __init__(self, tmp_path: Path, database: str, broker: Mosquitto, name: str, **env: str) -> None:
        self.name = name
        self.log_path = tmp_path / f"worker-{name}.log"
        environment = {
            **os.environ,
            "OPENIIOT_DATA_DIR": str(tmp_path / f"data-{name}"),
            "OPENIIOT_DATABASE_URL": database,
            "OPENIIOT_MQTT_URL": broker.url,
            "OPENIIOT_WORKER_NAME": name,
            "OPENIIOT_HTTP_PORT": str(free_tcp_port()),
            "OPENIIOT_LOG_LEVEL": "INFO",
            **env,
        }
        with self.log_path.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "openiiot.cli.app", "serve", "--role", "ingest"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_running(self) -> None:
        def running() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited: {self.output()}")
            return f"ingest worker {self.name} running" in self.output()

        wait_for(running, 60, f"worker {self.name} to start")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)  # it stops reading: its share queues at the broker

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Device:
    """A device with a persistent session publishing numbered QoS 1 messages; paho queues while offline.

    Without `gate` it reconnects on its own within 0.1-0.5 s; with one, only while the gate is open.
    """

    def __init__(
        self, port: int, device_id: str, token: str, base_ms: int, gate: threading.Event | None = None
    ) -> None:
        self.device_id, self.base_ms, self.gate = device_id, base_ms, gate
        self.sent = 0
        self.acked = 0  # PUBACKs: the broker has the message (paho resends until it gets one)
        self.mids: list[int] = []  # the packet id of message n, at index n
        self.acked_mids: list[int] = []  # in PUBACK order
        self.closing = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"dev-{device_id}",
            clean_session=False,
            reconnect_on_failure=gate is None,
        )
        self.client.username_pw_set(device_id, token)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        if gate is None:
            self.client.loop_start()
        else:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        linked = True  # a socket is open (connect() above, reconnect() below)
        while not self.closing.is_set():
            if linked:
                linked = self.client.loop(0.05) == mqtt.MQTT_ERR_SUCCESS
            elif self.gate is not None and self.gate.wait(0.05) and not self.closing.is_set():
                try:
                    self.client.reconnect()
                    linked = True
                except OSError:
                    time.sleep(0.1)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        self.acked_mids.append(mid)
        self.acked += 1

    def acked_numbers(self) -> set[int]:
        """The numbers of the messages the broker has acknowledged so far."""
        acked = set(self.acked_mids[:])  # a slice copy: paho's thread may be appending
        return {n for n, mid in enumerate(self.mids[:]) if mid in acked}

    def ts(self, n: int) -> int:
        return self.base_ms + n * 10

    def publish_next(self) -> None:
        n = self.sent
        body = {"ts": self.ts(n), "values": {f"k{j}": n + j for j in range(KEYS)}}
        topic = f"v1/devices/{self.device_id}/telemetry"
        info = self.client.publish(topic, json.dumps(body), qos=1)  # queued by paho while disconnected
        self.mids.append(info.mid)  # unique here: a test sends far fewer than 65,535 messages per device
        self.sent += 1

    def points(self, numbers: Iterable[int]) -> set[tuple[str, int, float]]:
        """The points of the messages numbered `numbers`, as `stored_points` lists them."""
        return {(f"k{j}", self.ts(n), float(n + j)) for n in numbers for j in range(KEYS)}

    def expected(self) -> set[tuple[str, int, float]]:
        return self.points(range(self.sent))

    def close(self) -> None:
        self.closing.set()
        if self.gate is None:
            self.client.disconnect()
            self.client.loop_stop()
        else:
            self.thread.join(5)
            self.client.disconnect()


class Fleet:
    """The devices of one tenant, publishing together at RATE_HZ from one thread."""

    def __init__(self, api: Platform, broker: Mosquitto, gate: threading.Event | None = None) -> None:
        self.api, self.broker, self.gate = api, broker, gate
        services = api.services
        self.tenant_id = services.tenants.create(PLATFORM_ADMIN, {"name": "Acme Air"}).id
        self.profile_id = services.profiles.create(
            PLATFORM_ADMIN, {"name": "compressor"}, tenant_id=self.tenant_id
        ).id
        self.base_ms = int(time.time() * 1000) - 600_000
        self.devices = [self.new_device(f"C{i}") for i in range(DEVICES)]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)

    def new_device(self, name: str) -> Device:
        """Create a device through the platform (which gives it a broker account) and connect it."""
        created = self.api.services.devices.create(
            PLATFORM_ADMIN, {"name": name, "profile_id": self.profile_id}, tenant_id=self.tenant_id
        )
        device_id, token = created.device.id, created.access_token
        return Device(self.broker.port, device_id, token, self.base_ms, self.gate)

    def _publish(self) -> None:
        period_s = 1.0 / RATE_HZ
        next_at = time.monotonic()
        while not self.stopping.is_set():
            for device in self.devices:
                device.publish_next()
            next_at += period_s
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        self.thread.start()

    def stop_publishing(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(10)

    def close(self) -> None:
        self.stop_publishing()
        for device in self.devices:
            device.close()

    def settle(self, database: str, quiet_s: float = 60.0) -> dict[str, set[tuple[str, int, float]]]:
        """Wait until the broker has accepted every message and the store stops growing; what is stored.

        The store has stopped growing when it holds every point sent and no row came for a second (a late
        redelivery would show up as an extra row then), or when it has not grown for `quiet_s`.
        """
        wait_for(
            lambda: all(d.acked == d.sent for d in self.devices), 60, "the broker to accept every message"
        )
        total = sum(d.sent for d in self.devices) * KEYS
        deadline = time.monotonic() + 60
        count, changed_at = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - changed_at < (
            1.0 if count >= total else quiet_s
        ):
            if (now := stored_count(database)) != count:
                count, changed_at = now, time.monotonic()
            time.sleep(0.2)
        return stored_points(database)

    def check_stored(self, database: str) -> None:
        """Every point sent is stored once with its value; nothing else is."""
        stored = self.settle(database)
        expected = {d.device_id: d.expected() for d in self.devices}
        total = sum(len(points) for points in expected.values())
        lost = {d: len(points - stored.get(d, set())) for d, points in expected.items()}
        assert not any(lost.values()), f"points lost of {total} (per device): {lost}"
        assert stored == expected  # nothing changed, nothing extra
        assert stored_count(database) == total  # nothing doubled


def stored_points(database: str) -> dict[str, set[tuple[str, int, float]]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT s.device_id, s.key, r.ts, r.value FROM telemetry.raw r "
            "JOIN telemetry.series s USING (series_id)"
        ).fetchall()
    points: dict[str, set[tuple[str, int, float]]] = {}
    for device_id, key, ts, value in rows:
        points.setdefault(device_id, set()).add((key, ts, value))
    return points


def stored_count(database: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM telemetry.raw").fetchone()
    return int(row[0]) if row else 0


def since_last_start(broker: Mosquitto) -> str:
    """The broker's log since it last started."""
    return broker.log().rsplit("mosquitto version", 1)[-1]


def subscribed(broker: Mosquitto, worker: str, topic: str) -> bool:
    """Whether the worker's consumer has subscribed to `topic` since the broker last started."""
    return f"openiiot-ingest-{worker} 1 {topic}\n" in since_last_start(broker)


@pytest.fixture
def api(tmp_path: Path, database: str, broker: Mosquitto) -> Iterator[Platform]:
    """The api process (in this process): creates the devices and their Mosquitto clients."""
    settings = load_settings(
        data_dir=tmp_path / "data-api",
        http_port=free_tcp_port(),
        database_url=database,
        mqtt_url=broker.url,
        worker_name="api",
    )
    platform = build_platform(settings)
    try:
        platform.start("api")
        yield platform
    finally:
        platform.stop()
