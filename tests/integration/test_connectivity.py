"""Connectivity through the wired platform: the broker's session events, activity from data, inactivity
after the profile's timeout, history over time — and a take-over is not a disconnect."""

from __future__ import annotations

import asyncio
import json
import socket
import time
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


async def provision(api: httpx.AsyncClient, timeout_s: int = 10) -> tuple[str, str, str]:
    tenant = (await api.post("/api/v1/tenants", json={"name": "Acme Air"})).json()
    profile = (
        await api.post(
            "/api/v1/device-profiles",
            json={
                "tenant_id": tenant["id"],
                "name": "compressor",
                "keys": [{"key": "pressure_bar"}],
                "inactivity_timeout_s": timeout_s,
            },
        )
    ).json()
    body = (
        await api.post(
            "/api/v1/devices", json={"tenant_id": tenant["id"], "name": "C1", "profile_id": profile["id"]}
        )
    ).json()
    return tenant["id"], body["device"]["id"], body["access_token"]


def device_client(
    platform: Platform, device_id: str, token: str, client_id: str, keepalive: int = 60
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(device_id, token)
    client.connect("127.0.0.1", platform.settings.mqtt_port, keepalive=keepalive)
    client.loop_start()
    wait_for(client.is_connected, 10, "the device to connect")
    return client


async def test_connect_publish_go_quiet_and_disconnect_are_each_seen_and_kept(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    tenant_id, device_id, token = await provision(api, timeout_s=10)
    url = f"/api/v1/devices/{device_id}/connectivity"
    assert (await api.get(url)).json()["status"] == "never-seen"

    client = device_client(platform, device_id, token, "c1-main")
    await eventually(lambda: _field(api, url, "connected"), 15, "the session to be seen")
    assert (await api.get(url)).json()["status"] == "connected-inactive"

    client.publish(
        f"v1/devices/{device_id}/telemetry", json.dumps({"pressure_bar": 7.0}), qos=1
    ).wait_for_publish(10)
    now = await eventually(_when(api, url, "active"), 15, "activity")
    assert now["status"] == "active" and now["inactive_at_ms"] == now["last_activity_ms"] + 10_000
    summary = (await api.get("/api/v1/connectivity/summary?group_by=tenant")).json()
    assert summary["groups"][tenant_id]["active"] == 1

    # nothing more for 10 s: still connected, but inactive — the hung-application case
    quiet = await eventually(_when(api, url, "status", "connected-inactive"), 20, "inactivity")
    assert quiet["connected"] is True
    ids = (await api.get("/api/v1/connectivity/devices?status=connected-inactive")).json()["items"]
    assert ids == [device_id]

    client.disconnect()
    client.loop_stop()
    await eventually(_when(api, url, "status", "disconnected"), 15, "the disconnect")
    history = (await api.get(f"{url}/events")).json()["items"]
    assert [e["kind"] for e in reversed(history)] == ["connected", "active", "inactive", "disconnected"]
    inactive = next(e for e in history if e["kind"] == "inactive")
    assert inactive["ts_ms"] == now["inactive_at_ms"]  # stamped when the timeout expired, not when checked


async def test_a_take_over_by_the_same_client_id_is_not_a_disconnect(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    _tenant, device_id, token = await provision(api)
    url = f"/api/v1/devices/{device_id}/connectivity"
    first = device_client(platform, device_id, token, "c1-main")
    await eventually(lambda: _field(api, url, "connected"), 15, "the first session")
    second = device_client(platform, device_id, token, "c1-main")  # the broker closes the first
    try:
        await asyncio.sleep(1.5)
        assert (await api.get(url)).json()["connected"] is True
    finally:
        for client in (first, second):
            client.loop_stop()
        second.disconnect()
    await eventually(_when(api, url, "connected", False), 15, "the real disconnect")


async def test_a_device_that_vanishes_without_disconnect_is_disconnected_after_its_keep_alive(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    _tenant, device_id, token = await provision(api)
    url = f"/api/v1/devices/{device_id}/connectivity"
    # a raw MQTT CONNECT with keep-alive 1 s, then silence: no PINGREQ, no DISCONNECT, socket left open
    sock = socket.create_connection(("127.0.0.1", platform.settings.mqtt_port))
    try:
        sock.sendall(_connect_packet("c1-raw", device_id, token, keepalive_s=1))
        assert sock.recv(4)[:1] == b"\x20", "CONNACK"
        await eventually(lambda: _field(api, url, "connected"), 15, "the session")
        started = time.monotonic()
        await eventually(_when(api, url, "connected", False), 10, "the keep-alive expiry")
        assert time.monotonic() - started < 6
    finally:
        sock.close()


def _connect_packet(client_id: str, username: str, password: str, keepalive_s: int) -> bytes:
    def text(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    variable = text("MQTT") + bytes([4, 0b1100_0010]) + keepalive_s.to_bytes(2, "big")
    body = variable + text(client_id) + text(username) + text(password)
    assert len(body) < 128
    return bytes([0x10, len(body)]) + body


async def _field(api: httpx.AsyncClient, url: str, name: str) -> Any:
    return (await api.get(url)).json()[name]


def _when(api: httpx.AsyncClient, url: str, name: str, wanted: Any = True) -> Any:
    async def check() -> Any:
        body = (await api.get(url)).json()
        return body if body[name] == wanted else None

    return check
