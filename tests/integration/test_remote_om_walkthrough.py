"""docs/remote-om.md, step by step, against the wired platform and the real broker: an alarm on a
compressor -> a work order -> a remote command -> the alarm clears -> the work order is verified."""

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
from tests.integration.stack_fixtures import Stack

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


class Compressor:
    """A compressor controller: reports its discharge pressure, and obeys set_pressure_setpoint."""

    def __init__(self, platform: Platform, device_id: str, token: str) -> None:
        self.device_id, self.pressure = device_id, 8.4
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"plc-{device_id}")
        self.client.username_pw_set(device_id, token)
        self.client.on_connect = lambda c, *_: c.subscribe(f"v1/devices/{device_id}/rpc/request/+", qos=1)
        self.client.on_message = self._command
        self.client.connect("127.0.0.1", platform.settings.mqtt_port)
        self.client.loop_start()

    def report(self) -> None:
        self.client.publish(
            f"v1/devices/{self.device_id}/telemetry",
            json.dumps({"discharge_pressure_bar": self.pressure}),
            qos=1,
        ).wait_for_publish(10)

    def _command(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        rpc_id = msg.topic.rsplit("/", 1)[1]
        request = json.loads(msg.payload)
        self.pressure = float(request["params"]["setpoint_bar"])  # the band moves down to the set-point
        answer = {"result": {"setpoint_bar": self.pressure}}
        client.publish(f"v1/devices/{self.device_id}/rpc/response/{rpc_id}", json.dumps(answer), qos=1)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def until(check: Any, what: str, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_alarm_work_order_remote_command_alarm_clears_work_order_verified(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    # 1. the compressor, its profile with the set-point method, and the alarm rule
    tenant = (await api.post("/api/v1/tenants", json={"name": "Customer plant"})).json()
    profile = (
        await api.post(
            "/api/v1/device-profiles",
            json={
                "tenant_id": tenant["id"],
                "name": "screw compressor",
                "keys": [{"key": "discharge_pressure_bar", "unit": "bar"}],
                "methods": [
                    {
                        "name": "set_pressure_setpoint",
                        "params": [{"name": "setpoint_bar", "min": 5.5, "max": 8.0, "unit": "bar"}],
                    }
                ],
            },
        )
    ).json()
    made = (
        await api.post(
            "/api/v1/devices", json={"tenant_id": tenant["id"], "name": "C2", "profile_id": profile["id"]}
        )
    ).json()
    device_id = made["device"]["id"]
    rule = {
        "id": "x",
        "name": "Discharge pressure high",
        "alarm_type": "Discharge pressure high",
        "levels": [
            {
                "severity": "major",
                "condition": {"type": "threshold", "key": "discharge_pressure_bar", "op": ">", "value": 8.0},
            }
        ],
        "clear": {"deadband": 0.2},
    }
    r = await api.post(
        "/api/v1/alarm-rules", json={"tenant_id": tenant["id"], "profile_id": profile["id"], "rule": rule}
    )
    assert r.status_code == 201, r.text

    compressor = Compressor(platform, device_id, made["access_token"])
    try:
        # 2. the compressor runs too high: the alarm is raised
        compressor.report()

        async def open_alarm() -> Any:
            items = (await api.get(f"/api/v1/alarms?device_id={device_id}&active=true")).json()["items"]
            return items[0] if items else None

        alarm = await until(open_alarm, "the alarm")

        # 3. a work order on the alarm, assigned and started
        order = (
            await api.post(
                "/api/v1/work-orders",
                json={
                    "tenant_id": tenant["id"],
                    "alarm_id": alarm["id"],
                    "title": "C2 discharge pressure above 8 bar",
                    "priority": "high",
                    "checklist": ["check the set-point", "lower it remotely if too high"],
                    "verify_after_s": 0,
                },
            )
        ).json()
        assert (order["device_id"], order["state"]) == (device_id, "open")
        users = await api.post(
            "/api/v1/users",
            json={
                "tenant_id": tenant["id"],
                "username": "service-tech",
                "password": PASSWORD,
                "role": "operator",
            },
        )
        assert users.status_code == 201, users.text
        assert (
            await api.post(f"/api/v1/work-orders/{order['id']}/assign", json={"assignee": "service-tech"})
        ).status_code == 200
        assert (await api.post(f"/api/v1/work-orders/{order['id']}/start")).json()["state"] == "in_progress"

        # 4. the remote command lowers the set-point; the compressor obeys and reports
        command = (
            await api.post(
                f"/api/v1/devices/{device_id}/commands",
                json={"method": "set_pressure_setpoint", "params": {"setpoint_bar": 7.0}},
            )
        ).json()

        async def command_done() -> Any:
            body = (await api.get(f"/api/v1/commands/{command['id']}")).json()
            return body if body["state"] == "SUCCEEDED" else None

        await until(command_done, "the command to succeed")
        await api.put(f"/api/v1/work-orders/{order['id']}/checklist/0", json={"done": True})
        await api.put(f"/api/v1/work-orders/{order['id']}/checklist/1", json={"done": True})
        resolved = await api.post(
            f"/api/v1/work-orders/{order['id']}/resolve",
            json={"note": f"set-point 7.0 bar by command {command['id']}"},
        )
        assert resolved.json()["state"] == "resolved"

        # verifying while the alarm is still active is refused
        refused = await api.post(f"/api/v1/work-orders/{order['id']}/verify")
        assert refused.status_code == 409 and "still active" in refused.json()["detail"]

        # 5. the next report is normal: the alarm clears
        compressor.report()

        async def cleared() -> bool:
            return not (await api.get(f"/api/v1/alarms/{alarm['id']}")).json()["active"]

        await until(cleared, "the alarm to clear")
    finally:
        compressor.stop()

    # 6. the work order is verified by the platform once the alarm stayed clear (here verify_after_s = 0)
    assert platform.services.workorders.verify_due() == 1
    final = (await api.get(f"/api/v1/work-orders/{order['id']}")).json()
    assert final["state"] == "verified"
    assert final["history"][-1]["by"] == "platform"
    assert [s["state"] for s in final["history"]] == [
        "open",
        "assigned",
        "in_progress",
        "resolved",
        "verified",
    ]
    assert all(item["done"] for item in final["checklist"])
    assert (await api.post(f"/api/v1/work-orders/{order['id']}/close")).json()["state"] == "closed"
    audit = (await api.get(f"/api/v1/audit?object_id={order['id']}")).json()["items"]
    assert [e["action"] for e in reversed(audit)][:3] == [
        "work_order.open",
        "work_order.assign",
        "work_order.start",
    ]
