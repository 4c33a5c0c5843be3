"""docs/alarms.md, step by step, against the wired platform: a rule fires from a device publishing over
MQTT, the operator acknowledges and the value clears it — and a signed webhook and an email arrive for
each step, every attempt is in the delivery log and every operator action in the audit log."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from aiosmtpd.controller import Controller
from paho.mqtt.enums import CallbackAPIVersion
from tests.integration.stack_fixtures import Stack
from tests.polling import eventually

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform
from openiiot.connectivity.notify.webhook import SIGNATURE_HEADER, verify
from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = pytest.mark.integration
PASSWORD = "platform-test-password"
SECRET = "walkthrough-webhook-secret"


class Hooks:
    """A webhook receiver: keeps what arrives and checks each signature."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()

    def take(self, headers: dict[str, str], body: bytes) -> None:
        with self.lock:
            if not verify(body, SECRET, headers.get(SIGNATURE_HEADER.lower(), "")):
                self.bad_signatures += 1
            self.events.append(json.loads(body))

    def transitions(self) -> list[str]:
        with self.lock:
            return [e["alarm"]["transition"] for e in self.events]


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.take({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/alarms"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Mailbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.subjects.append(str(message["Subject"]))
        return "250 accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_tcp_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def platform(tmp_path: Path, stack: Stack, mailbox: tuple[Mailbox, int]) -> Iterator[Platform]:
    settings = stack.platform_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_from="openiiot@plant.example",
    )
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


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_rule_fires_operator_acknowledges_value_clears_and_everyone_is_told(
    platform: Platform, api: httpx.AsyncClient, hooks: tuple[Hooks, str], mailbox: tuple[Mailbox, int]
) -> None:
    receiver, url = hooks
    box, _port = mailbox
    tenant = await created(await api.post("/api/v1/tenants", json={"name": "Acme Air"}))
    profile = await created(
        await api.post(
            "/api/v1/device-profiles",
            json={"tenant_id": tenant["id"], "name": "header pressure", "keys": [{"key": "pressure_bar"}]},
        )
    )
    device = await created(
        await api.post(
            "/api/v1/devices",
            json={"tenant_id": tenant["id"], "name": "PT-101", "profile_id": profile["id"]},
        )
    )
    device_id, token = device["device"]["id"], device["access_token"]

    # step 2 of docs/alarms.md: the rule
    rule = {
        "id": "x",
        "name": "Header pressure high",
        "alarm_type": "High pressure",
        "levels": [
            {
                "severity": "major",
                "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8},
            },
            {
                "severity": "critical",
                "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 9},
            },
        ],
        "clear": {"deadband": 0.5},
    }
    await created(
        await api.post(
            "/api/v1/alarm-rules", json={"tenant_id": tenant["id"], "profile_id": profile["id"], "rule": rule}
        )
    )
    # the notifications section: a webhook and an email for every transition
    hook_rule = await created(
        await api.post(
            "/api/v1/notifications/rules",
            json={
                "tenant_id": tenant["id"],
                "name": "control room webhook",
                "channel": "webhook",
                "target": {"url": url, "secret": SECRET},
            },
        )
    )
    assert hook_rule["target"]["secret"] == "********"
    await created(
        await api.post(
            "/api/v1/notifications/rules",
            json={
                "tenant_id": tenant["id"],
                "name": "shift lead email",
                "channel": "email",
                "target": {"to": ["shift-lead@plant.example"]},
                "severities": ["critical"],
            },
        )
    )

    # step 3: the device reports 9.4 bar over MQTT
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
    client.username_pw_set(device_id, token)
    client.connect("127.0.0.1", platform.settings.mqtt_port)
    client.loop_start()
    try:
        client.publish(
            f"v1/devices/{device_id}/telemetry", json.dumps({"pressure_bar": 9.4}), qos=1
        ).wait_for_publish(10)

        async def open_alarm() -> Any:
            items = (await api.get("/api/v1/alarms?active=true")).json()["items"]
            return items[0] if items else None

        alarm = await eventually(open_alarm, 15, "the alarm to be raised")
        assert (alarm["severity"], alarm["acknowledged"]) == ("critical", False)
        await eventually(lambda: receiver.transitions() == ["raised"], 15, "the raised webhook")

        # step 4: acknowledge with a comment, then the value falls back below 8 - 0.5 bar
        ack = await api.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", json={"comment": "on my way"})
        assert ack.status_code == 200, ack.text
        await eventually(lambda: receiver.transitions() == ["raised", "acknowledged"], 15, "the ack webhook")
        client.publish(
            f"v1/devices/{device_id}/telemetry", json.dumps({"pressure_bar": 6.8}), qos=1
        ).wait_for_publish(10)
        await eventually(
            lambda: receiver.transitions() == ["raised", "acknowledged", "cleared"],
            15,
            "the cleared webhook",
        )
    finally:
        client.loop_stop()
        client.disconnect()

    assert receiver.bad_signatures == 0
    first = receiver.events[0]["alarm"]
    assert (first["originator_name"], first["alarm_type"], first["severity"]) == (
        "PT-101",
        "High pressure",
        "critical",
    )
    # the email rule asked for critical alarms only: all three transitions of this critical alarm
    await eventually(lambda: len(box.subjects) == 3, 15, "three emails")
    assert box.subjects[0].startswith("[CRITICAL]") and "PT-101" in box.subjects[0]

    cleared = (await api.get(f"/api/v1/alarms/{alarm['id']}")).json()
    assert (cleared["active"], cleared["acknowledged"]) == (False, True)
    attempts = (await api.get("/api/v1/notifications/attempts?limit=100")).json()["items"]
    assert sorted(a["outcome"] for a in attempts) == ["delivered"] * 6
    assert {a["channel"] for a in attempts} == {"webhook", "email"}
    assert (await api.get("/api/v1/notifications/deliveries")).json()["items"] == []
    audit = (await api.get(f"/api/v1/audit?object_id={alarm['id']}")).json()["items"]
    assert [(e["action"], e["details"]) for e in audit] == [("alarm.acknowledge", {"comment": "on my way"})]
