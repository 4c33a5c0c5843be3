"""Production mode with an external Mosquitto (dynamic security): devices provisioned through the API are
authenticated and confined by Mosquitto, ingest works end to end, `openiiot broker sync` repairs drift."""

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
    restart_mosquitto,
    start_mosquitto,
    stop_mosquitto,
)
from tests.polling import eventually, wait_for
from typer.testing import CliRunner

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform
from openiiot.cli.app import app as cli_app
from openiiot.connectivity.mqtt.dynsec import DEVICE_TEXTNAME, DynsecClient, device_role, parse_broker_url
from openiiot.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.services]
PASSWORD = "platform-test-password"
TS = 1_764_316_800_000


@pytest.fixture
def platform(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Platform]:  # noqa: F811
    with platform_on(mosquitto, tmp_path, PASSWORD) as built:
        yield built


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(platform, PASSWORD) as client:
        yield client


async def provision(api: httpx.AsyncClient, names: list[str]) -> list[tuple[str, str]]:
    tenant = (await api.post("/api/v1/tenants", json={"name": "Acme Air"})).json()
    profile = (
        await api.post(
            "/api/v1/device-profiles",
            json={"tenant_id": tenant["id"], "name": "compressor", "keys": [{"key": "pressure_bar"}]},
        )
    ).json()
    devices = []
    for name in names:
        response = await api.post(
            "/api/v1/devices", json={"tenant_id": tenant["id"], "name": name, "profile_id": profile["id"]}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        devices.append((body["device"]["id"], body["access_token"]))
    return devices


class Device:
    """A paho client logged in (or refused) with a device's credentials."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.reason: Any = None
        self.connected = False
        self.received: list[tuple[str, bytes, bool]] = []
        self.subacks: dict[int, list[Any]] = {}
        self.done = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{username[:8]}-{time.time_ns()}"
        )
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload, m.retain))
        self.client.on_subscribe = lambda _c, _u, mid, rc, _p: self.subacks.__setitem__(mid, rc)
        self.client.on_disconnect = lambda *_a: setattr(self, "connected", False)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(lambda: self.done, 10, "a CONNACK")

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self.connected = not reason.is_failure
        self.done = True
        if reason.is_failure:
            client.disconnect()

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(10)

    def subscribe(self, topic: str) -> list[Any]:
        _rc, mid = self.client.subscribe(topic, qos=1)
        return list(wait_for(lambda: self.subacks.get(mid), 10, f"SUBACK for {topic}"))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def refused(port: int, username: str, password: str) -> bool:
    device = Device(port, username, password)
    device.close()
    return bool(device.reason.is_failure)


async def latest(api: httpx.AsyncClient, device_id: str, key: str = "pressure_bar") -> Any:
    values = (await api.get(f"/api/v1/devices/{device_id}/telemetry/latest")).json()["values"]
    return values.get(key)


async def wait_value(
    api: httpx.AsyncClient, device_id: str, expected: Any, key: str = "pressure_bar"
) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if await latest(api, device_id, key) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} of {device_id} never became {expected}: {await latest(api, device_id, key)}")


async def test_a_provisioned_device_publishes_with_its_token_and_the_value_is_stored(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    [(device_id, token)] = await provision(api, ["C1"])
    device = Device(mosquitto.port, device_id, token)
    try:
        assert device.connected
        device.publish(f"v1/devices/{device_id}/telemetry", {"ts": TS, "values": {"pressure_bar": 7.1}})
        await wait_value(api, device_id, {"ts": TS, "value": 7.1})
        # shared attributes pushed by the platform reach the device, retained
        put = await api.put(f"/api/v1/devices/{device_id}/attributes/shared", json={"setpoint_bar": 7.0})
        assert put.status_code == 200
        assert device.subscribe(f"v1/devices/{device_id}/attributes/shared")[0].value == 1
        wait_for(lambda: device.received, 10, "the shared attributes")
        topic, payload, _retain = device.received[-1]
        assert topic.endswith("/attributes/shared") and json.loads(payload) == {"setpoint_bar": 7.0}
    finally:
        device.close()


async def test_a_device_cannot_publish_to_or_read_another_devices_topics(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    [(a_id, a_token), (b_id, _b_token)] = await provision(api, ["A", "B"])
    device = Device(mosquitto.port, a_id, a_token)
    try:
        device.publish(f"v1/devices/{b_id}/telemetry", {"ts": TS, "values": {"pressure_bar": 99.0}})
        device.publish(f"v1/devices/{a_id}/telemetry", {"ts": TS, "values": {"pressure_bar": 1.0}})
        # the broker keeps the order of one client's messages: once A's own value is stored, the forged
        # one would have been too
        await wait_value(api, a_id, {"ts": TS, "value": 1.0})
        assert await latest(api, b_id) is None
        assert device.subscribe(f"v1/devices/{b_id}/#")[0].is_failure
        assert device.subscribe("v1/devices/+/telemetry")[0].is_failure
        assert device.subscribe(f"v1/devices/{a_id}/rpc/request/+")[0].value == 1
    finally:
        device.close()
    # the device id and a wrong token, someone else's token, no password: refused
    assert refused(mosquitto.port, a_id, "not-the-token")
    assert refused(mosquitto.port, b_id, a_token)


async def test_disabled_deleted_and_rotated_devices(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    [(a_id, a_token), (b_id, b_token)] = await provision(api, ["A", "B"])
    online = Device(mosquitto.port, a_id, a_token)
    assert online.connected
    assert (await api.post(f"/api/v1/devices/{a_id}/disable")).status_code == 200
    wait_for(lambda: not online.connected, 10, "the disabled device to be disconnected")
    online.close()
    assert refused(mosquitto.port, a_id, a_token)
    assert (await api.post(f"/api/v1/devices/{a_id}/enable")).status_code == 200
    assert not refused(mosquitto.port, a_id, a_token)

    rotated = await api.post(f"/api/v1/devices/{a_id}/credentials/rotate")
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["access_token"]
    assert refused(mosquitto.port, a_id, a_token)
    device = Device(mosquitto.port, a_id, new_token)
    try:
        device.publish(f"v1/devices/{a_id}/telemetry", {"ts": TS, "values": {"pressure_bar": 3.5}})
        await wait_value(api, a_id, {"ts": TS, "value": 3.5})
    finally:
        device.close()

    assert (await api.delete(f"/api/v1/devices/{b_id}")).status_code == 204
    assert refused(mosquitto.port, b_id, b_token)


async def test_broker_sync_repairs_drift_made_by_hand(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [(a_id, a_token), (b_id, b_token), (c_id, _c_token)] = await provision(api, ["A", "B", "C"])
    assert (await api.post(f"/api/v1/devices/{b_id}/disable")).status_code == 200
    admin = DynsecClient(parse_broker_url(mosquitto.url))
    admin.connect()
    try:
        # drift: A may publish anywhere and lost its role, B is enabled again, C's client is gone,
        # a stray device client and role are left over from a device that no longer exists
        admin.run(
            "addRoleACL", rolename=device_role(a_id), acltype="publishClientSend", topic="#", allow=True
        )
        admin.run(
            "removeRoleACL",
            rolename=device_role(a_id),
            acltype="subscribePattern",
            topic=f"v1/devices/{a_id}/#",
        )
        admin.run("enableClient", username=b_id)
        admin.run("deleteClient", username=c_id)
        admin.run("createRole", rolename=device_role("gone"), acls=[])
        admin.run(
            "createClient",
            username="gone",
            password="x",
            textname=DEVICE_TEXTNAME,
            roles=[{"rolename": device_role("gone")}],
        )
        admin.run("createClient", username="someone-else", password="y")  # not ours: left alone
        assert not refused(mosquitto.port, b_id, b_token)  # the drift is real

        monkeypatch.setenv("OPENIIOT_DATA_DIR", str(platform.settings.data_dir))
        monkeypatch.setenv("OPENIIOT_MQTT_URL", mosquitto.url)
        runner = CliRunner()
        dry = runner.invoke(cli_app, ["broker", "sync", "--dry-run"])
        assert f"repaired: {a_id}: ACLs" in dry.output
        assert not refused(mosquitto.port, b_id, b_token)  # a dry run changes nothing

        result = runner.invoke(cli_app, ["broker", "sync"])
        assert result.exit_code == 1, result.output  # C must be rotated
        out = " ".join(result.output.split())
        assert f"{a_id}: ACLs of {device_role(a_id)} restored" in out
        assert f"{b_id}: client disabled as the device is" in out
        assert "deleted: client gone" in out and f"deleted: role {device_role('gone')}" in out
        assert f"rotate: {c_id}" in out

        clients = {c["username"] for c in admin.list_all("listClients", "clients")}
        assert "gone" not in clients and "someone-else" in clients
        assert refused(mosquitto.port, b_id, b_token)
        acls = admin.run("getRole", rolename=device_role(a_id))["role"]["acls"]
        assert {(x["acltype"], x["topic"]) for x in acls} == {
            ("publishClientSend", f"v1/devices/{a_id}/telemetry"),
            ("publishClientSend", f"v1/devices/{a_id}/attributes"),
            ("publishClientSend", f"v1/devices/{a_id}/rpc/response/+"),
            *(
                ("publishClientSend", f"v1/devices/{a_id}/gateway/{leaf}")
                for leaf in (
                    "connect",
                    "disconnect",
                    "telemetry",
                    "attributes",
                    "rpc/response",
                    "attributes/request",
                )
            ),
            ("subscribePattern", f"v1/devices/{a_id}/#"),
            ("publishClientReceive", f"v1/devices/{a_id}/#"),
        }
        device = Device(mosquitto.port, a_id, a_token)
        try:
            assert device.subscribe(f"v1/devices/{a_id}/attributes/shared")[0].value == 1
        finally:
            device.close()

        # rotating C's token recreates its client, and a second sync finds nothing to do
        assert (await api.post(f"/api/v1/devices/{c_id}/credentials/rotate")).status_code == 200
        again = runner.invoke(cli_app, ["broker", "sync"])
        assert again.exit_code == 0, again.output
        assert "No drift found." in again.output
    finally:
        admin.close()


async def test_with_http_auth_the_platform_manages_no_accounts_and_still_ingests(tmp_path: Path) -> None:
    # a broker that checks devices some other way (EMQX/VerneMQ asking our HTTP hooks); here a plain
    # Mosquitto that lets anyone in stands for it
    broker = start_mosquitto(tmp_path / "plain", dynsec=False, extra_conf="allow_anonymous true")
    settings = load_settings(
        data_dir=tmp_path / "data",
        mqtt_url=f"mqtt://platform:pw@127.0.0.1:{broker.port}",
        mqtt_auth="http",
    )
    built = build_platform(settings)
    try:
        built.start()
        assert built.broker_accounts is None and built.broker is None
        built.services.auth.ensure_admin("admin", PASSWORD)
        transport = httpx.ASGITransport(app=create_app(built))
        async with httpx.AsyncClient(transport=transport, base_url="http://platform") as api:
            token = await api.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            [(device_id, device_token)] = await provision(api, ["C1"])
            device = Device(broker.port, device_id, device_token)
            try:
                device.publish(
                    f"v1/devices/{device_id}/telemetry", {"ts": TS, "values": {"pressure_bar": 2.5}}
                )
                await wait_value(api, device_id, {"ts": TS, "value": 2.5})
            finally:
                device.close()
    finally:
        built.stop()
        stop_mosquitto(broker)


async def test_a_broker_that_is_down_refuses_device_changes_and_nothing_drifts(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    [(a_id, a_token)] = await provision(api, ["A"])
    tenant_id = (await api.get(f"/api/v1/devices/{a_id}")).json()["tenant_id"]
    profile_id = (await api.get(f"/api/v1/devices/{a_id}")).json()["profile_id"]
    stop_mosquitto(mosquitto)
    created = await api.post(
        "/api/v1/devices", json={"tenant_id": tenant_id, "name": "B", "profile_id": profile_id}
    )
    assert created.status_code == 503, created.text
    assert "retry" in created.json()["detail"]
    assert (await api.post(f"/api/v1/devices/{a_id}/credentials/rotate")).status_code == 503
    assert (await api.post(f"/api/v1/devices/{a_id}/disable")).status_code == 503
    # the device table is as it was: no device B, A enabled, A's token unchanged (HTTP device API)
    names = [d["name"] for d in (await api.get("/api/v1/devices")).json()["items"]]
    assert names == ["A"]
    assert (await api.get(f"/api/v1/devices/{a_id}")).json()["disabled"] is False
    posted = await api.post(
        f"/api/v1/device/{a_id}/telemetry", json={"pressure_bar": 1.5}, headers={"X-Device-Token": a_token}
    )
    assert posted.status_code == 200, posted.text


async def test_sessions_come_from_the_broker_log_and_commands_reach_the_device_over_mqtt(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    tenant = (await api.post("/api/v1/tenants", json={"name": "Acme Air"})).json()
    method = {"name": "set_pressure_setpoint", "params": [{"name": "setpoint_bar", "type": "number"}],
              "timeout_s": 30}  # fmt: skip
    profile = await api.post(
        "/api/v1/device-profiles", json={"tenant_id": tenant["id"], "name": "compressor", "methods": [method]}
    )
    assert profile.status_code == 201, profile.text
    created = await api.post(
        "/api/v1/devices", json={"tenant_id": tenant["id"], "name": "C1", "profile_id": profile.json()["id"]}
    )
    device_id, token = created.json()["device"]["id"], created.json()["access_token"]

    async def connected() -> Any:
        return (await api.get(f"/api/v1/devices/{device_id}/connectivity")).json()["connected"]

    device = Device(mosquitto.port, device_id, token)
    try:
        assert device.subscribe(f"v1/devices/{device_id}/rpc/request/+")[0].value == 1
        await eventually(connected, 10, "the platform to see the device connect")
        r = await api.post(
            f"/api/v1/devices/{device_id}/commands",
            json={"method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}},
        )
        assert r.status_code == 201, r.text
        topic, payload, _ = wait_for(lambda: device.received and device.received[0], 10, "the command")
        assert json.loads(payload) == {"method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}}
        rpc_id = topic.rsplit("/", 1)[1]
        device.publish(f"v1/devices/{device_id}/rpc/response/{rpc_id}", {"result": {"applied_bar": 6.8}})

        async def succeeded() -> Any:
            command = (await api.get(f"/api/v1/commands/{r.json()['id']}")).json()
            return command if command["state"] == "SUCCEEDED" else None

        command = await eventually(succeeded, 10, "the command to succeed")
        assert command["result"] == {"applied_bar": 6.8}
    finally:
        device.close()

    async def left() -> bool:
        return not await connected()

    await eventually(left, 10, "the platform to see the device leave")


async def test_after_a_broker_restart_the_platform_reconnects_and_keeps_managing_devices(
    platform: Platform,
    api: httpx.AsyncClient,
    mosquitto: Mosquitto,  # noqa: F811
) -> None:
    [(a_id, a_token)] = await provision(api, ["A"])
    assert platform.broker_accounts is not None
    admin = platform.broker_accounts.client
    stop_mosquitto(mosquitto)
    # the admin client retries while the broker is away, its jittered delay growing to the cap
    wait_for(
        lambda: (admin.reconnect_delay_s or 0) >= admin.RECONNECT_MAX_S / 2,
        30,
        "the admin client to back off",
    )
    restart_mosquitto(mosquitto)
    assert platform.consumer is not None
    wait_for(platform.consumer.connected.is_set, 30, "the ingest consumer to reconnect")
    # device accounts survive in the plugin's file; a new device is provisioned through the new connection
    a = (await api.get(f"/api/v1/devices/{a_id}")).json()
    created = await api.post(
        "/api/v1/devices", json={"tenant_id": a["tenant_id"], "name": "B", "profile_id": a["profile_id"]}
    )
    assert created.status_code == 201, created.text
    b_id, b_token = created.json()["device"]["id"], created.json()["access_token"]
    for device_id, token, value in ((a_id, a_token, 1.25), (b_id, b_token, 2.5)):
        device = Device(mosquitto.port, device_id, token)
        try:
            assert device.connected, device.reason
            device.publish(f"v1/devices/{device_id}/telemetry", {"ts": TS, "values": {"pressure_bar": value}})
            await wait_value(api, device_id, {"ts": TS, "value": value})
        finally:
            device.close()


async def test_broker_sync_refuses_to_wipe_the_broker_from_an_empty_or_missing_device_table(
    platform: Platform,
    mosquitto: Mosquitto,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    admin = DynsecClient(parse_broker_url(mosquitto.url))
    admin.connect()
    try:
        admin.run("createClient", username="dev-x", password="x", textname=DEVICE_TEXTNAME)
        monkeypatch.setenv("OPENIIOT_MQTT_URL", mosquitto.url)
        runner = CliRunner()
        monkeypatch.setenv("OPENIIOT_DATA_DIR", str(tmp_path / "nowhere"))
        missing = runner.invoke(cli_app, ["broker", "sync"])
        assert missing.exit_code == 2 and "no metadata database" in " ".join(missing.output.split())
        monkeypatch.setenv("OPENIIOT_DATA_DIR", str(platform.settings.data_dir))
        empty = runner.invoke(cli_app, ["broker", "sync"])
        assert empty.exit_code == 2 and "device table is empty" in " ".join(empty.output.split())
        assert "dev-x" in {c["username"] for c in admin.list_all("listClients", "clients")}
        forced = runner.invoke(cli_app, ["broker", "sync", "--force"])
        assert forced.exit_code == 0, forced.output
        assert "dev-x" not in {c["username"] for c in admin.list_all("listClients", "clients")}
    finally:
        admin.close()
