"""`openiiot demo` in production mode: PostgreSQL + an external Mosquitto that authenticates the devices.

`OPENIIOT_DATABASE_URL=postgresql://... OPENIIOT_MQTT_URL=mqtt://... openiiot demo` runs the same demo as
embedded mode: the platform gives every demo device a Mosquitto dynamic-security client, the simulated
devices log in to Mosquitto with their tokens, and their telemetry reaches the API and the console.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.mosquitto_fixtures import Mosquitto, mosquitto  # noqa: F401 - the fixture
from tests.postgres_support import temporary_database

from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = [pytest.mark.integration, pytest.mark.services]
PASSWORD = "demo-production-password"


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def start_demo(tmp_path: Path, database: str, broker_url: str, http_port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "OPENIIOT_DATA_DIR": str(tmp_path / "data"),
        "OPENIIOT_DATABASE_URL": database,
        "OPENIIOT_MQTT_URL": broker_url,
        "OPENIIOT_HTTP_PORT": str(http_port),
        "OPENIIOT_DEMO_PASSWORD": PASSWORD,
        "OPENIIOT_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    with (tmp_path / "demo.log").open("w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "openiiot.cli.app", "demo"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def login(client: httpx.Client, process: subprocess.Popen[str], log: Path) -> dict[str, str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited: {log.read_text(encoding='utf-8')}")
        try:
            response = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            if response.status_code == 200:
                return {"Authorization": f"Bearer {response.json()['access_token']}"}
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the demo's API did not answer in time: {log.read_text(encoding='utf-8')}")


def refused(port: int, device_id: str, token: str) -> bool:
    """Whether Mosquitto refuses the device's login with `token`."""
    outcome: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{device_id[:8]}")
    client.username_pw_set(device_id, token)
    client.on_connect = lambda _c, _u, _f, reason, _p: outcome.append(reason.is_failure)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not outcome and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    assert outcome, "Mosquitto did not answer the CONNECT"
    return outcome[0]


def test_the_demo_runs_on_postgresql_and_mosquitto_with_devices_authenticated_by_mosquitto(
    tmp_path: Path,
    database: str,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    http_port = free_tcp_port()
    process = start_demo(tmp_path, database, mosquitto.url, http_port)
    log = tmp_path / "demo.log"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as client:
            headers = login(client, process, log)
            devices = client.get("/api/v1/devices", params={"limit": 100}, headers=headers).json()["items"]
            assert len(devices) == 12
            compressor = next(d for d in devices if d["name"] == "Compressor C1")
            deadline = time.monotonic() + 60
            values: dict[str, dict[str, object]] = {}
            while "discharge_pressure_bar" not in values and time.monotonic() < deadline:
                latest = client.get(f"/api/v1/devices/{compressor['id']}/telemetry/latest", headers=headers)
                values = latest.json()["values"]
                time.sleep(0.5)
            assert 0 < float(values["discharge_pressure_bar"]["value"]) < 16  # type: ignore[arg-type]
            console = client.get("/console/", follow_redirects=True)
            assert console.status_code == 200 and "OpenIIoT" in console.text
        # the points are in PostgreSQL, from every demo device
        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT count(DISTINCT device_id) FROM telemetry.series").fetchone()
        assert row is not None and row[0] == 12
        # Mosquitto checked each device: its own client, logged in with the device id as username
        clients = json.loads((mosquitto.directory / "dynamic-security.json").read_text(encoding="utf-8"))
        usernames = {c["username"] for c in clients["clients"]}
        assert {d["id"] for d in devices} <= usernames
        broker_log = mosquitto.log()
        assert all(f"u'{d['id']}')" in broker_log for d in devices)
        credentials = (tmp_path / "data" / "demo" / "devices.csv").read_text(encoding="utf-8").splitlines()
        device_id, token = credentials[1].split(",")[:2]
        assert not refused(mosquitto.port, device_id, token)
        assert refused(mosquitto.port, device_id, token + "-wrong")
    finally:
        stop(process)
    output = log.read_text(encoding="utf-8")
    assert process.returncode == 0, output
    assert f"MQTT:      127.0.0.1:{mosquitto.port} (external broker)" in output
