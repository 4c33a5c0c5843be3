"""A gateway speaking for its child devices through a real broker on both stacks (ThingsBoard's gateway API
under the gateway's own topics): only a device flagged as a gateway may, children created on first sight up
to the limit, several children's telemetry in one message, a name that is not the gateway's child refused
alone, child connectivity following its own connect/disconnect and falling with the gateway's session,
commands routed through the gateway, attributes read back, and a command answer counting as activity.
On the production stack (Mosquitto with dynamic security) the broker lets the gateway publish its gateway
topics and each child gets a broker client of its own, so `openiiot broker sync` has nothing to repair."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.api_fixtures import assert_problem
from tests.integration.stack_fixtures import Stack
from tests.polling import eventually
from typer.testing import CliRunner

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform
from openiiot.cli.app import app as cli_app
from openiiot.connectivity.mqtt.dynsec import DynsecClient, parse_broker_url

pytestmark = pytest.mark.integration
PASSWORD = "platform-test-password"
SETPOINT = {
    "name": "set_pressure_setpoint",
    "params": [{"name": "setpoint_bar", "type": "number", "min": 5.5, "max": 8.0}],
    "timeout_s": 30,
}


MAX_CHILDREN = 3  # OPENIIOT_GATEWAY_MAX_CHILDREN of these platforms


@pytest.fixture
def platform(tmp_path: Path, stack: Stack) -> Iterator[Platform]:
    settings = stack.platform_settings(tmp_path, gateway_max_children=MAX_CHILDREN)
    built = build_platform(settings)
    built.start()
    built.services.auth.ensure_admin("admin", PASSWORD)
    try:
        yield built
    finally:
        built.stop()


class Plant:
    """A tenant with a gateway placed on an asset, a direct device, and a second gateway with a child."""

    def __init__(self, api: httpx.AsyncClient, platform: Platform) -> None:
        self.api, self.platform = api, platform
        self.ids: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.api.post(url, json=body)
        assert r.status_code in (200, 201), r.text
        result: dict[str, Any] = r.json()
        return result

    async def get(self, url: str) -> Any:
        r = await self.api.get(url)
        assert r.status_code == 200, r.text
        return r.json()

    async def device(self, name: str, profile: str, **extra: str | bool) -> None:
        body = await self.post(
            "/api/v1/devices",
            {"tenant_id": self.ids["tenant"], "name": name, "profile_id": self.ids[profile], **extra},
        )
        self.ids[name], self.tokens[name] = body["device"]["id"], body["access_token"]

    async def by_name(self, name: str) -> dict[str, Any] | None:
        items = (await self.get(f"/api/v1/devices?search={name}"))["items"]
        return next((d for d in items if d["name"] == name), None)

    async def latest(self, device_id: str) -> dict[str, Any]:
        values: dict[str, Any] = (await self.get(f"/api/v1/devices/{device_id}/telemetry/latest"))["values"]
        return {key: v["value"] for key, v in values.items()}

    async def connectivity(self, device_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.get(f"/api/v1/devices/{device_id}/connectivity")
        return result

    async def history(self, device_id: str) -> list[tuple[str, str]]:
        items = (await self.get(f"/api/v1/devices/{device_id}/connectivity/events"))["items"]
        return [(e["kind"], e["reason"]) for e in reversed(items)]


@pytest.fixture
async def plant(platform: Platform) -> AsyncIterator[Plant]:
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as api:
        token = await api.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        p = Plant(api, platform)
        p.ids["tenant"] = (await p.post("/api/v1/tenants", {"name": "Acme Air"}))["id"]
        site = await p.post("/api/v1/sites", {"tenant_id": p.ids["tenant"], "name": "Plant 1"})
        asset = await p.post(
            "/api/v1/assets", {"tenant_id": p.ids["tenant"], "site_id": site["id"], "name": "Station"}
        )
        p.ids["asset"] = asset["id"]
        for name, body in (
            ("edge-gateway", {"inactivity_timeout_s": 600}),
            (
                "compressor",
                {
                    "keys": [{"key": "pressure_bar"}],
                    "strict": True,
                    "methods": [SETPOINT],
                    "inactivity_timeout_s": 600,
                },
            ),
        ):
            created = await p.post(
                "/api/v1/device-profiles", {"tenant_id": p.ids["tenant"], "name": name, **body}
            )
            p.ids[name] = created["id"]
        await p.device("GW-1", "edge-gateway", asset_id=p.ids["asset"], is_gateway=True)
        await p.device("GW-2", "edge-gateway", is_gateway=True)
        await p.device("Direct-1", "compressor")
        await p.device("Other child", "compressor", gateway_id=p.ids["GW-2"])
        yield p


class Gateway:
    """A ThingsBoard-style gateway on paho: publishes for its children, answers their commands, and keeps
    the shared attributes the platform sends for them."""

    def __init__(self, plant: Plant, name: str = "GW-1", *, answer: bool = True) -> None:
        self.id, self.answer, self.platform = plant.ids[name], answer, plant.platform
        self.sent = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.shared: list[dict[str, Any]] = []
        self.attribute_answers: list[dict[str, Any]] = []
        self.subscribed = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{self.id}")
        self.client.username_pw_set(self.id, plant.tokens[name])
        self.client.on_connect = lambda c, *_: c.subscribe(
            [
                (f"v1/devices/{self.id}/gateway/rpc/request/+", 1),
                (f"v1/devices/{self.id}/gateway/attributes/shared", 1),
                (f"v1/devices/{self.id}/gateway/attributes/response", 1),
            ]
        )
        self.client.on_subscribe = lambda *_: setattr(self, "subscribed", True)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", plant.platform.settings.mqtt_port)
        self.client.loop_start()
        connectivity = plant.platform.connectivity
        assert connectivity is not None
        deadline = time.monotonic() + 10
        while not (self.subscribed and connectivity.is_connected(self.id)):
            assert time.monotonic() < deadline, "the gateway did not connect and subscribe"
            time.sleep(0.05)

    def send(self, leaf: str, body: Any) -> None:
        """Publish with QoS 1 and wait until the platform has processed (committed) it."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(f"v1/devices/{self.id}/gateway/{leaf}", payload, qos=1).wait_for_publish(10)
        self.sent += 1
        consumer = self.platform.consumer
        assert consumer is not None
        deadline = time.monotonic() + 10
        # the platform acknowledges each message to the broker once it is done with it (after the commit)
        while consumer.counts["acked"] < self.sent:
            assert time.monotonic() < deadline, f"the platform did not process gateway/{leaf}"
            time.sleep(0.02)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        request = json.loads(msg.payload)
        if msg.topic.endswith("/gateway/attributes/shared"):
            self.shared.append(request)
            return
        if msg.topic.endswith("/gateway/attributes/response"):
            self.attribute_answers.append(request)
            return
        self.requests.append((msg.topic, request))
        if self.answer:
            data = request["data"]
            answer = {
                "device": request["device"],
                "id": data["id"],
                "data": {"result": {"applied": data["params"]}},
            }
            client.publish(f"v1/devices/{self.id}/gateway/rpc/response", json.dumps(answer), qos=1)


@pytest.fixture
def gateway(plant: Plant) -> Iterator[Gateway]:
    gw = Gateway(plant)
    try:
        yield gw
    finally:
        gw.stop()


def rejects(platform: Platform, reason: str) -> float:
    from prometheus_client import generate_latest

    text = generate_latest(platform.registry).decode()
    match = re.search(rf'openiiot_ingest_rejects_total{{reason="{reason}"}} (\S+)', text)
    return float(match.group(1)) if match else 0.0


async def test_children_are_created_on_first_sight_and_several_report_in_one_message(
    plant: Plant, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openiiot.services.gateway")
    gateway.send("connect", {"device": "Compressor A", "type": "compressor"})
    ts = int(time.time() * 1000) - 5_000
    gateway.send(
        "telemetry",
        {
            "Compressor A": [
                {"ts": ts, "values": {"pressure_bar": 7.1}},
                {"ts": ts + 1000, "values": {"pressure_bar": 7.2}},
            ],
            "Sensor B": {"temperature_c": 41.5},
            "Direct-1": {"pressure_bar": 99.0},
            "Other child": {"pressure_bar": 98.0},
        },
    )

    a, b = await plant.by_name("Compressor A"), await plant.by_name("Sensor B")
    assert a is not None and b is not None
    # in the gateway's tenant and place; the profile named by "type", else the gateway's own
    assert (a["gateway_id"], a["asset_id"], a["profile_id"]) == (
        gateway.id,
        plant.ids["asset"],
        plant.ids["compressor"],
    )
    assert (b["gateway_id"], b["asset_id"], b["profile_id"]) == (
        gateway.id,
        plant.ids["asset"],
        plant.ids["edge-gateway"],
    )
    assert await plant.latest(a["id"]) == {"pressure_bar": 7.2}
    assert await plant.latest(b["id"]) == {"temperature_c": 41.5}
    # the gateway may not speak for a direct device or another gateway's child: refused, the rest kept
    assert await plant.latest(plant.ids["Direct-1"]) == {}
    assert await plant.latest(plant.ids["Other child"]) == {}
    assert rejects(plant.platform, "not_a_child") == 2
    refused = [r.getMessage() for r in caplog.records]
    assert any("'Direct-1'" in m and "is a direct device" in m for m in refused), refused
    assert any("'Other child'" in m and "a child of another gateway" in m for m in refused), refused

    gateway.send("attributes", {"Compressor A": {"firmware": "2.4.1"}, "Direct-1": {"firmware": "evil"}})
    attributes = await plant.get(f"/api/v1/devices/{a['id']}/attributes/client")
    assert {x["key"]: x["value"] for x in attributes["attributes"]} == {"firmware": "2.4.1"}
    direct = await plant.get(f"/api/v1/devices/{plant.ids['Direct-1']}/attributes/client")
    assert direct["attributes"] == []

    # the same names again: no second device
    gateway.send("telemetry", {"Compressor A": {"pressure_bar": 7.3}, "Sensor B": {"temperature_c": 41.6}})
    found = (await plant.get("/api/v1/devices?search=Compressor A"))["items"]
    assert [d["id"] for d in found] == [a["id"]]
    audit = (await plant.get(f"/api/v1/audit?object_id={a['id']}"))["items"]
    assert [(e["action"], e["details"]["gateway_id"]) for e in audit] == [("device.create", gateway.id)]


async def test_malformed_gateway_messages_are_refused_with_a_reason_and_lose_nothing_else(
    plant: Plant, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openiiot.services.gateway")
    gateway.send("telemetry", b"{not json")
    gateway.send("connect", {"type": "compressor"})
    gateway.send(
        "telemetry",
        {"Good": {"pressure_bar": 6.5}, "Wrong shape": "not telemetry", "": {"pressure_bar": 1.0}},
    )
    good = await plant.by_name("Good")
    assert good is not None and await plant.latest(good["id"]) == {"pressure_bar": 6.5}
    assert rejects(plant.platform, "malformed_json") == 1
    assert rejects(plant.platform, "bad_device_name") == 2  # the connect without a name, the empty name
    assert rejects(plant.platform, "wrong_shape") == 1  # decoded as that child's own telemetry
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "the message is not JSON" in messages and '"device": the device name must be a string' in messages


async def test_child_connectivity_follows_its_gateway_reports_and_falls_with_the_gateway(
    plant: Plant, gateway: Gateway
) -> None:
    gateway.send("connect", {"device": "Compressor A", "type": "compressor"})
    child = await plant.by_name("Compressor A")
    assert child is not None
    state = await plant.connectivity(child["id"])
    assert (state["status"], state["connected"], state["via_gateway"]) == (
        "connected-inactive",
        True,
        gateway.id,
    )

    gateway.send("telemetry", {"Compressor A": {"pressure_bar": 7.0}})
    assert (await eventually(lambda: _status(plant, child["id"], "active"), 15, "activity"))[
        "connected"
    ] is True
    gateway.send("disconnect", {"device": "Compressor A"})
    assert (await plant.connectivity(child["id"]))["connected"] is False

    gateway.send("telemetry", {"Compressor A": {"pressure_bar": 7.1}})  # data through the gateway: it is back
    assert (await plant.connectivity(child["id"]))["connected"] is True
    gateway.stop()  # the gateway's session ends: its children with it
    await eventually(lambda: _connected(plant, child["id"], False), 15, "the child to fall with its gateway")
    assert await plant.history(child["id"]) == [
        ("connected", "connected via the gateway"),
        ("active", ""),
        ("disconnected", "the gateway reported it gone"),
        ("connected", "data via the gateway"),
        ("disconnected", "gateway session closed"),
    ]


async def test_a_childs_command_goes_through_its_gateway_and_the_answer_counts_as_activity(
    plant: Plant, gateway: Gateway, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.send("connect", {"device": "Compressor A", "type": "compressor"})
    child = await plant.by_name("Compressor A")
    assert child is not None
    assert (await plant.connectivity(child["id"]))["status"] == "connected-inactive"

    command = await plant.post(
        f"/api/v1/devices/{child['id']}/commands",
        {"method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}},
    )

    async def succeeded() -> dict[str, Any] | None:
        body: dict[str, Any] = await plant.get(f"/api/v1/commands/{command['id']}")
        return body if body["state"] == "SUCCEEDED" else None

    done = await eventually(succeeded, 15, "the command to succeed")
    # an answer shows the request was delivered, on either broker
    assert [h["state"] for h in done["history"]] == ["QUEUED", "SENT", "DELIVERED", "SUCCEEDED"]
    assert done["result"] == {"applied": {"setpoint_bar": 6.8}}
    assert gateway.requests == [
        (
            f"v1/devices/{gateway.id}/gateway/rpc/request/{command['id']}",
            {
                "device": "Compressor A",
                "data": {
                    "id": command["id"],
                    "method": "set_pressure_setpoint",
                    "params": {"setpoint_bar": 6.8},
                },
            },
        )
    ]
    # no telemetry at all: the answer alone shows the child is alive
    assert (await plant.connectivity(child["id"]))["status"] == "active"
    if stack.production:
        assert_child_has_a_broker_client(plant.platform, child["id"], monkeypatch)


def assert_child_has_a_broker_client(
    platform: Platform, child_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Mosquitto a child has a broker client like any device: nothing for `broker sync` to repair."""
    url = platform.settings.mqtt_url
    assert url is not None
    admin = DynsecClient(parse_broker_url(url))
    admin.connect()
    try:
        assert child_id in {c["username"] for c in admin.list_all("listClients", "clients")}
    finally:
        admin.close()
    monkeypatch.setenv("OPENIIOT_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.setenv("OPENIIOT_MQTT_URL", url)
    monkeypatch.setenv("OPENIIOT_DATABASE_URL", str(platform.settings.database_url))
    result = CliRunner().invoke(cli_app, ["broker", "sync", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "rotate:" not in result.output and "repaired:" not in result.output


async def test_a_direct_devices_command_answer_counts_as_activity(plant: Plant) -> None:
    device_id, token = plant.ids["Direct-1"], plant.tokens["Direct-1"]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{device_id}")
    client.username_pw_set(device_id, token)
    client.connect("127.0.0.1", plant.platform.settings.mqtt_port)
    client.loop_start()
    try:
        await eventually(lambda: _connected(plant, device_id, True), 15, "the session")
        assert (await plant.connectivity(device_id))["status"] == "connected-inactive"
        client.publish(
            f"v1/devices/{device_id}/rpc/response/unknown-command", json.dumps({"result": 1}), qos=1
        ).wait_for_publish(10)
        await eventually(lambda: _status(plant, device_id, "active"), 15, "the answer to count as activity")
    finally:
        client.disconnect()
        client.loop_stop()


async def _status(plant: Plant, device_id: str, status: str) -> dict[str, Any] | None:
    state = await plant.connectivity(device_id)
    return state if state["status"] == status else None


async def _connected(plant: Plant, device_id: str, connected: bool) -> bool:
    return bool((await plant.connectivity(device_id))["connected"] is connected)


async def test_a_childs_shared_attributes_reach_it_through_its_gateway(
    plant: Plant, gateway: Gateway
) -> None:
    gateway.send("connect", {"device": "Compressor A", "type": "compressor"})
    child = await plant.by_name("Compressor A")
    assert child is not None
    await eventually(lambda: _shared(gateway, 1), 15, "the (empty) set at connect")
    assert gateway.shared == [{"device": "Compressor A", "data": {}}]

    r = await plant.api.put(f"/api/v1/devices/{child['id']}/attributes/shared", json={"setpoint_bar": 6.8})
    assert r.status_code == 200, r.text
    await eventually(lambda: _shared(gateway, 2), 15, "the change")
    assert gateway.shared[-1] == {"device": "Compressor A", "data": {"setpoint_bar": 6.8}}

    gateway.send("disconnect", {"device": "Compressor A"})
    await plant.api.put(f"/api/v1/devices/{child['id']}/attributes/shared", json={"setpoint_bar": 7.0})
    gateway.send("connect", {"device": "Compressor A"})  # back: it gets the whole current set
    await eventually(lambda: _shared(gateway, 3), 15, "the set at reconnect")
    # nothing was pushed while it was away: the platform's messages arrive in order, so it would be here
    assert gateway.shared[2:] == [{"device": "Compressor A", "data": {"setpoint_bar": 7.0}}]


async def _shared(gateway: Gateway, count: int) -> bool:
    return len(gateway.shared) >= count


async def test_a_device_that_is_not_a_gateway_creates_nothing_and_keeps_its_own_data(
    plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openiiot.services.gateway")
    direct = Gateway(plant, "Direct-1")  # the broker lets it publish there; the platform refuses it
    try:
        direct.send("connect", {"device": "Sneaky"})
        direct.send("telemetry", {"Sneaky": {"pressure_bar": 1.0}})
        client = direct.client
        client.publish(
            f"v1/devices/{direct.id}/telemetry", json.dumps({"pressure_bar": 7.4}), qos=1
        ).wait_for_publish(10)
        assert await eventually(
            lambda: _latest_is(plant, direct.id, {"pressure_bar": 7.4}), 15, "its own telemetry"
        )
    finally:
        direct.stop()
    assert await plant.by_name("Sneaky") is None
    assert rejects(plant.platform, "not_a_gateway") == 2
    assert "is not a gateway" in caplog.text

    # made a gateway through the API (audited), the same device may now speak for children
    r = await plant.api.put(f"/api/v1/devices/{direct.id}", json={"is_gateway": True})
    assert r.status_code == 200 and r.json()["is_gateway"] is True, r.text
    audit = (await plant.get(f"/api/v1/audit?object_id={direct.id}&action=device.update"))["items"]
    assert [e["details"] for e in audit] == [{"is_gateway": True}]
    # a child's gateway must be a gateway; a gateway with children keeps the flag
    body = {"tenant_id": plant.ids["tenant"], "name": "Orphan", "profile_id": plant.ids["compressor"]}
    plain = await plant.post("/api/v1/devices", body)
    r = await plant.api.post(
        "/api/v1/devices", json={**body, "name": "Orphan child", "gateway_id": plain["device"]["id"]}
    )
    assert_problem(r, 422, "gateway_id")
    r = await plant.api.put(f"/api/v1/devices/{plant.ids['GW-2']}", json={"is_gateway": False})
    assert_problem(r, 409, "is_gateway")


async def test_a_gateway_creates_at_most_the_allowed_number_of_children(
    plant: Plant, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="openiiot.services.gateway")
    names = [f"Meter {i}" for i in range(MAX_CHILDREN + 1)]
    gateway.send("telemetry", {name: {"energy_kwh": float(i)} for i, name in enumerate(names)})
    children = (await plant.get(f"/api/v1/devices?gateway_id={gateway.id}"))["items"]
    assert sorted(d["name"] for d in children) == names[:MAX_CHILDREN]
    assert rejects(plant.platform, "too_many_children") == 1
    assert f"OPENIIOT_GATEWAY_MAX_CHILDREN={MAX_CHILDREN}" in caplog.text
    gateway.send("telemetry", {names[0]: {"energy_kwh": 10.0}})  # the children it has still report
    assert await plant.latest(children[0]["id"]) == {"energy_kwh": 10.0}


async def test_a_gateway_reads_its_childs_attributes_back(plant: Plant, gateway: Gateway) -> None:
    gateway.send("attributes", {"Compressor A": {"firmware": "2.4.1", "serial": "SC-1"}})
    child = await plant.by_name("Compressor A")
    assert child is not None
    r = await plant.api.put(f"/api/v1/devices/{child['id']}/attributes/shared", json={"setpoint_bar": 6.8})
    assert r.status_code == 200, r.text

    gateway.send("attributes/request", {"id": 1, "device": "Compressor A", "client": True, "key": "firmware"})
    gateway.send(
        "attributes/request",
        {"id": 2, "device": "Compressor A", "client": False, "keys": ["setpoint_bar", "unknown"]},
    )
    gateway.send("attributes/request", {"id": 3, "device": "Direct-1", "client": True, "key": "firmware"})
    await eventually(lambda: _answers(gateway, 3), 15, "the three answers")
    by_id = {answer["id"]: answer for answer in gateway.attribute_answers}
    assert by_id[1] == {"id": 1, "device": "Compressor A", "value": "2.4.1"}
    assert by_id[2] == {"id": 2, "device": "Compressor A", "values": {"setpoint_bar": 6.8}}
    assert by_id[3]["device"] == "Direct-1" and "is a direct device" in by_id[3]["error"]
    assert rejects(plant.platform, "not_a_child") == 1


async def _answers(gateway: Gateway, count: int) -> bool:
    return len(gateway.attribute_answers) >= count


async def _latest_is(plant: Plant, device_id: str, values: dict[str, Any]) -> bool:
    return await plant.latest(device_id) == values
