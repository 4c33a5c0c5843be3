"""A gateway on an external Mosquitto (dynamic security): the broker lets it publish its gateway topics, its
children are created with broker clients of their own (so `openiiot broker sync` has nothing to repair),
and a child's command reaches the gateway and comes back answered."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.mosquitto_fixtures import (  # noqa: F401 - the fixture
    Mosquitto,
    admin_client,
    mosquitto,
    platform_on,
)
from typer.testing import CliRunner

from openiiot.bootstrap import Platform
from openiiot.cli.app import app as cli_app
from openiiot.connectivity.mqtt.dynsec import DynsecClient, parse_broker_url

pytestmark = [pytest.mark.integration, pytest.mark.services]
PASSWORD = "platform-test-password"


@pytest.fixture
def platform(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Platform]:  # noqa: F811
    with platform_on(mosquitto, tmp_path, PASSWORD) as built:
        yield built


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(platform, PASSWORD) as client:
        yield client


async def eventually(check: Any, what: str, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_gateway_on_mosquitto_reports_for_its_children_and_relays_their_commands(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = (await api.post("/api/v1/tenants", json={"name": "Acme Air"})).json()
    method = {"name": "set_pressure_setpoint", "params": [{"name": "setpoint_bar", "type": "number"}]}
    profiles = {}
    for name, body in (
        ("edge-gateway", {}),
        ("compressor", {"keys": [{"key": "pressure_bar"}], "methods": [method]}),
    ):
        r = await api.post("/api/v1/device-profiles", json={"tenant_id": tenant["id"], "name": name, **body})
        assert r.status_code == 201, r.text
        profiles[name] = r.json()["id"]
    created = await api.post(
        "/api/v1/devices",
        json={"tenant_id": tenant["id"], "name": "GW", "profile_id": profiles["edge-gateway"]},
    )
    gateway_id, token = created.json()["device"]["id"], created.json()["access_token"]

    requests: list[tuple[str, dict[str, Any]]] = []

    def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        request = json.loads(msg.payload)
        requests.append((msg.topic, request))
        answer = {"device": request["device"], "id": request["data"]["id"], "data": {"result": "applied"}}
        client.publish(f"v1/devices/{gateway_id}/gateway/rpc/response", json.dumps(answer), qos=1)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{time.time_ns()}")
    client.username_pw_set(gateway_id, token)
    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.subscribe(f"v1/devices/{gateway_id}/gateway/rpc/request/+", qos=1)
        client.publish(
            f"v1/devices/{gateway_id}/gateway/connect",
            json.dumps({"device": "Compressor A", "type": "compressor"}),
            qos=1,
        ).wait_for_publish(10)
        client.publish(
            f"v1/devices/{gateway_id}/gateway/telemetry",
            json.dumps({"Compressor A": [{"ts": int(time.time() * 1000), "values": {"pressure_bar": 7.1}}]}),
            qos=1,
        ).wait_for_publish(10)

        async def child() -> Any:
            items = (await api.get("/api/v1/devices?search=Compressor")).json()["items"]
            return items[0] if items else None

        found = await eventually(child, "the child to be created")
        assert (found["gateway_id"], found["profile_id"]) == (gateway_id, profiles["compressor"])

        async def stored() -> Any:
            latest = (await api.get(f"/api/v1/devices/{found['id']}/telemetry/latest")).json()["values"]
            return latest.get("pressure_bar")

        assert (await eventually(stored, "the child's value"))["value"] == 7.1

        r = await api.post(
            f"/api/v1/devices/{found['id']}/commands",
            json={"method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}},
        )
        assert r.status_code == 201, r.text

        async def succeeded() -> Any:
            command = (await api.get(f"/api/v1/commands/{r.json()['id']}")).json()
            return command if command["state"] == "SUCCEEDED" else None

        assert (await eventually(succeeded, "the command's answer"))["result"] == "applied"
        assert [topic for topic, _ in requests] == [
            f"v1/devices/{gateway_id}/gateway/rpc/request/{r.json()['id']}"
        ]
    finally:
        client.disconnect()
        client.loop_stop()

    # the child has a broker client like any device: nothing for `broker sync` to repair or rotate
    admin = DynsecClient(parse_broker_url(mosquitto.url))
    admin.connect()
    try:
        assert found["id"] in {c["username"] for c in admin.list_all("listClients", "clients")}
    finally:
        admin.close()
    monkeypatch.setenv("OPENIIOT_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.setenv("OPENIIOT_MQTT_URL", mosquitto.url)
    result = CliRunner().invoke(cli_app, ["broker", "sync", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "rotate:" not in result.output and "repaired:" not in result.output
