"""Production mode with process roles: two ingest workers share the device topics through one shared
subscription on Mosquitto, and a worker restarted under the same name loses nothing (persistent QoS 1
session). Both workers write to one PostgreSQL database; the test counts the stored points."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.mosquitto_fixtures import (  # noqa: F401 - the fixture
    Mosquitto,
    mosquitto,
)
from tests.polling import wait_for
from tests.postgres_support import temporary_database
from tests.unit.management_fixtures import PLATFORM_ADMIN

from openiiot.bootstrap import Platform, build_platform
from openiiot.domain.errors import ConfigurationError
from openiiot.settings import load_settings
from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = [pytest.mark.integration, pytest.mark.services]
KEYS = 5


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def _worker(tmp_path: Path, database: str, broker: Mosquitto, name: str, role: str = "ingest") -> Platform:
    settings = load_settings(
        data_dir=tmp_path / f"data-{name}",
        http_port=free_tcp_port(),
        database_url=database,
        mqtt_url=broker.url,
        worker_name=name,
    )
    platform = build_platform(settings)
    try:
        platform.start(role)
    except Exception:
        platform.stop()
        raise
    return platform


def _stored(database: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM telemetry.raw").fetchone()
    return int(row[0]) if row else 0


class Publisher:
    """A device publishing numbered QoS 1 messages with its own credentials."""

    def __init__(self, port: int, device_id: str, token: str) -> None:
        self.device_id, self.sent = device_id, 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{device_id[:8]}")
        self.client.username_pw_set(device_id, token)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, n: int, base_ms: int) -> None:
        for _ in range(n):
            body = {"ts": base_ms + self.sent * 100, "values": {f"k{j}": self.sent + j for j in range(KEYS)}}
            info = self.client.publish(f"v1/devices/{self.device_id}/telemetry", json.dumps(body), qos=1)
            info.wait_for_publish(10)
            self.sent += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_two_ingest_workers_share_the_load_and_a_restart_loses_nothing(
    tmp_path: Path,
    database: str,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    api = _worker(tmp_path, database, mosquitto, "api", role="api")
    workers = {name: _worker(tmp_path, database, mosquitto, name) for name in ("a", "b")}
    publishers: list[Publisher] = []
    try:
        assert api.consumer is None and all(w.consumer is not None for w in workers.values())
        services = api.services
        tenant = services.tenants.create(PLATFORM_ADMIN, {"name": "Acme Air"})
        profile = services.profiles.create(PLATFORM_ADMIN, {"name": "compressor"}, tenant_id=tenant.id)
        for i in range(4):
            created = services.devices.create(
                PLATFORM_ADMIN, {"name": f"C{i}", "profile_id": profile.id}, tenant_id=tenant.id
            )
            publishers.append(Publisher(mosquitto.port, created.device.id, created.access_token))
        base_ms = int(time.time() * 1000) - 60_000
        for publisher in publishers:
            publisher.send(50, base_ms)
        wait_for(lambda: _stored(database) == 4 * 50 * KEYS, 60, "the first 200 messages stored")
        share = {name: w.metrics.points._value.get() for name, w in workers.items()}  # type: ignore[attr-defined]
        assert all(points > 0 for points in share.values()), share  # both workers took part

        workers["b"].stop()  # worker b goes away; its persistent session keeps its share of the group
        for publisher in publishers:
            publisher.send(50, base_ms)
        time.sleep(1.0)
        workers["b"] = _worker(tmp_path, database, mosquitto, "b")  # the same name: the same session
        wait_for(lambda: _stored(database) == 4 * 100 * KEYS, 60, "every message stored after the restart")
        time.sleep(1.0)
        assert _stored(database) == 4 * 100 * KEYS  # nothing lost, nothing doubled
    finally:
        for publisher in publishers:
            publisher.close()
        for worker in workers.values():
            worker.stop()
        api.stop()


def test_roles_need_production_mode(tmp_path: Path) -> None:
    platform = build_platform(load_settings(data_dir=tmp_path, http_port=free_tcp_port()))
    try:
        with pytest.raises(ConfigurationError, match="needs production mode"):
            platform.start("ingest")
        with pytest.raises(ConfigurationError, match="unknown role"):
            platform.start("everything")
    finally:
        platform.telemetry.close()
