"""The wired platform (bootstrap): real embedded broker, ingest, REST API — device and operator together."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.stack_fixtures import Stack
from tests.polling import eventually, wait_for

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform

pytestmark = pytest.mark.integration
PASSWORD = "platform-test-password"


@pytest.fixture
def platform(tmp_path: Path, stack: Stack) -> Iterator[Platform]:
    settings = stack.platform_settings(tmp_path)
    built = build_platform(settings)
    built.start()
    built.services.auth.ensure_admin("admin", PASSWORD)
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
        token = await client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def provision(api: httpx.AsyncClient, names: list[str]) -> list[tuple[str, str]]:
    tenant = (await api.post("/api/v1/tenants", json={"name": "Acme Air"})).json()
    profile = (
        await api.post(
            "/api/v1/device-profiles",
            json={
                "tenant_id": tenant["id"],
                "name": "compressor",
                "keys": [{"key": "pressure_bar", "unit": "bar"}],
            },
        )
    ).json()
    devices = []
    for name in names:
        body = (
            await api.post(
                "/api/v1/devices", json={"tenant_id": tenant["id"], "name": name, "profile_id": profile["id"]}
            )
        ).json()
        devices.append((body["device"]["id"], body["access_token"]))
    return devices


def connect(platform: Platform, device_id: str, token: str) -> tuple[mqtt.Client, list[Any]]:
    received: list[Any] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
    client.username_pw_set(device_id, token)
    client.on_message = lambda _c, _u, msg: received.append((msg.topic, json.loads(msg.payload), msg.retain))
    client.connect("127.0.0.1", platform.settings.mqtt_port)
    client.loop_start()
    wait_for(client.is_connected, 10, "the device to connect")
    return client, received


async def test_device_telemetry_published_over_mqtt_is_queryable_through_the_api(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    [(device_id, token)] = await provision(api, ["C1"])
    client, _ = connect(platform, device_id, token)
    try:
        info = client.publish(
            f"v1/devices/{device_id}/telemetry",
            json.dumps({"ts": 1_764_316_800_000, "values": {"pressure_bar": 7.1}}),
            qos=1,
        )
        info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()

    async def latest() -> Any:
        values = (await api.get(f"/api/v1/devices/{device_id}/telemetry/latest")).json()["values"]
        return values.get("pressure_bar")

    assert await eventually(latest, 10, "the value to be queryable") == {
        "ts": 1_764_316_800_000,
        "value": 7.1,
    }


async def test_shared_attributes_reach_the_device_as_one_complete_retained_set(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    [(device_id, token)] = await provision(api, ["C1"])
    assert (
        await api.put(f"/api/v1/devices/{device_id}/attributes/shared", json={"setpoint_bar": 7.0})
    ).status_code == 200
    assert (
        await api.put(f"/api/v1/devices/{device_id}/attributes/shared", json={"band_bar": 0.5})
    ).status_code == 200
    client, received = connect(
        platform, device_id, token
    )  # connects after the changes: gets the retained set
    try:
        client.subscribe(f"v1/devices/{device_id}/attributes/shared", qos=1)
        wait_for(lambda: received, 10, "the retained shared attributes")
        _topic, payload, retained = received[-1]
        assert payload == {"setpoint_bar": 7.0, "band_bar": 0.5}
        assert retained
        assert (
            await api.delete(f"/api/v1/devices/{device_id}/attributes/shared/band_bar")
        ).status_code == 204
        wait_for(lambda: received[-1][1] == {"setpoint_bar": 7.0}, 10, "the reduced set after a delete")
    finally:
        client.loop_stop()
        client.disconnect()


async def test_publishing_under_another_devices_topic_is_refused_and_counted_on_metrics(
    platform: Platform, api: httpx.AsyncClient, stack: Stack
) -> None:
    (intruder, token), (victim, _) = await provision(api, ["C1", "C2"])
    client, _ = connect(platform, intruder, token)
    try:
        client.publish(
            f"v1/devices/{victim}/telemetry", json.dumps({"pressure_bar": 99}), qos=1
        ).wait_for_publish(10)
        # then a value under its own topic: once that is stored, the refused one would have been too
        client.publish(
            f"v1/devices/{intruder}/telemetry", json.dumps({"pressure_bar": 5.5}), qos=1
        ).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()

    async def own_value_stored() -> bool:
        latest = await api.get(f"/api/v1/devices/{intruder}/telemetry/latest")
        return bool(latest.json()["values"].get("pressure_bar", {}).get("value") == 5.5)

    await eventually(own_value_stored, 20, "the intruder's own value")
    if not stack.production:
        # docs/device-api.md: with an external broker the refusals are counted by the broker itself

        async def denied() -> bool:
            text = (await api.get("/metrics")).text
            return 'openiiot_broker_denied_total{reason="publish_denied"} 1.0' in text

        await eventually(denied, 20, "the broker's denial count on /metrics")
    assert (await api.get(f"/api/v1/devices/{victim}/telemetry/latest")).json()["values"] == {}
