"""The HTTP auth endpoints external brokers call (EMQX HTTP auth/authz, VerneMQ webhooks), over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from tests.integration.test_http_device_api import OFF_TOKEN, TOKEN, metadata

from openiiot.connectivity.http.device_api import create_device_router
from openiiot.services.clock import SystemClock
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ingest import IngestPipeline
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.memory.telemetry import MemoryTelemetryStore

pytestmark = pytest.mark.integration


class Broker:
    """Plays the broker: posts what EMQX or VerneMQ would post."""

    def __init__(self, client: httpx.AsyncClient, uow: MemoryUnitOfWorkFactory) -> None:
        self.client = client
        self.uow = uow

    async def post(self, path: str, body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/api/v1/device/broker/{path}", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def auth(self, username: str, password: str, clientid: str = "sensor-1") -> dict[str, Any]:
        return await self.post("auth", {"username": username, "password": password, "clientid": clientid})

    async def acl(self, username: str, action: str, topic: str) -> str:
        body = {"username": username, "clientid": "sensor-1", "action": action, "topic": topic}
        return str((await self.post("acl", body))["result"])


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    uow = metadata()
    pipeline = IngestPipeline(
        directory=DeviceDirectory(uow),
        uow=uow,
        store=MemoryTelemetryStore(),
        clock=SystemClock(),
        metrics=IngestMetrics(CollectorRegistry()),
        max_payload_bytes=4096,
        max_future_ms=3_600_000,
        max_past_ms=3_600_000,
        queue_size=10,
        batch_max=10,
        batch_wait_ms=2,
    )
    app = FastAPI()
    app.include_router(create_device_router(pipeline, uow.credential_lookup(), SystemClock(), 4096))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client:
        yield Broker(client, uow)


async def test_emqx_authentication_allows_only_an_enabled_device_with_its_token(broker: Broker) -> None:
    assert await broker.auth("d1", TOKEN) == {"result": "allow", "is_superuser": False}
    assert (await broker.auth("d1", "wrong-token"))["result"] == "deny"
    assert (await broker.auth("d1", OFF_TOKEN))["result"] == "deny"  # another device's token
    assert (await broker.auth("nobody", TOKEN))["result"] == "deny"
    assert (await broker.auth("d-off", OFF_TOKEN))["result"] == "deny"  # disabled
    assert (await broker.auth("d1", ""))["result"] == "deny"
    # a device may not take over the client id of the platform's own clients
    assert (await broker.auth("d1", TOKEN, clientid="openiiot-ingest-0123"))["result"] == "deny"
    # garbage is an answer too, never an error status (the broker would treat that as an outage)
    response = await broker.client.post("/api/v1/device/broker/auth", content=b"not json")
    assert response.status_code == 200 and response.json()["result"] == "deny"


async def test_emqx_authorisation_confines_a_device_to_its_own_topics(broker: Broker) -> None:
    assert await broker.acl("d1", "publish", "v1/devices/d1/telemetry") == "allow"
    assert await broker.acl("d1", "publish", "v1/devices/d1/attributes") == "allow"
    assert await broker.acl("d1", "publish", "v1/devices/d1/rpc/response/42") == "allow"
    assert await broker.acl("d1", "subscribe", "v1/devices/d1/#") == "allow"
    assert await broker.acl("d1", "subscribe", "v1/devices/d1/rpc/request/+") == "allow"
    # platform → device topics, other devices, wildcards across devices, anything else
    assert await broker.acl("d1", "publish", "v1/devices/d1/attributes/shared") == "deny"
    assert await broker.acl("d1", "publish", "v1/devices/d2/telemetry") == "deny"
    assert await broker.acl("d1", "subscribe", "v1/devices/+/telemetry") == "deny"
    assert await broker.acl("d1", "subscribe", "#") == "deny"
    assert await broker.acl("d1", "publish", "$platform/alarms/x") == "deny"
    assert await broker.acl("d-off", "publish", "v1/devices/d-off/telemetry") == "deny"
    # a device deleted after it connected loses its rights at the next check
    with broker.uow() as u:
        u.devices.delete("t1", "d1")
        u.commit()
    assert await broker.acl("d1", "publish", "v1/devices/d1/telemetry") == "deny"


async def test_vernemq_webhooks(broker: Broker) -> None:
    ok, no = {"result": "ok"}, {"result": {"error": "not_allowed"}}
    register = {"peer_addr": "10.0.0.7", "peer_port": 51000, "mountpoint": "", "clean_session": True}
    assert await broker.post("vernemq/auth_on_register", {**register, "username": "d1", "password": TOKEN,
                                                          "client_id": "c1"}) == ok  # fmt: skip
    assert await broker.post("vernemq/auth_on_register", {**register, "username": "d1", "password": "x",
                                                          "client_id": "c1"}) == no  # fmt: skip
    publish = {"username": "d1", "client_id": "c1", "mountpoint": "", "qos": 1, "payload": "e30=",
               "retain": False}  # fmt: skip
    assert await broker.post("vernemq/auth_on_publish", {**publish, "topic": "v1/devices/d1/telemetry"}) == ok
    assert await broker.post("vernemq/auth_on_publish", {**publish, "topic": "v1/devices/d2/telemetry"}) == no
    subscribe = {"username": "d1", "client_id": "c1", "mountpoint": ""}
    own = [{"topic": "v1/devices/d1/attributes/shared", "qos": 1}, {"topic": "v1/devices/d1/rpc/request/+",
                                                                     "qos": 1}]  # fmt: skip
    assert await broker.post("vernemq/auth_on_subscribe", {**subscribe, "topics": own}) == ok
    mixed = [*own, {"topic": "v1/devices/+/telemetry", "qos": 0}]
    assert await broker.post("vernemq/auth_on_subscribe", {**subscribe, "topics": mixed}) == no
