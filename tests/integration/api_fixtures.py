"""The management API over a real metadata database and telemetry store of the stack under test.

Embedded: a SQLite file and an in-memory store; production: PostgreSQL for both (stack_fixtures.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry, Counter
from tests.integration.stack_fixtures import Stack
from tests.unit.management_fixtures import JWT_SECRET, FakeClock, cheap_passwords

from openiiot.api.app import create_app
from openiiot.domain.model import Role
from openiiot.services.management import Services, build_services
from openiiot.services.ports import TelemetryStore, UnitOfWorkFactory
from openiiot.storage.attachments import MemoryAttachmentStore
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

ADMIN_PASSWORD = "platform-admin-password"
PASSWORD = "a-long-password"


@dataclass
class PlatformStandIn:
    """The parts of bootstrap.Platform that create_app reads."""

    services: Services
    registry: CollectorRegistry
    extra_routers: list[APIRouter] = field(default_factory=list)


@dataclass
class Api:
    """A test client of the app and what sits behind it."""

    client: httpx.AsyncClient
    app: FastAPI
    services: Services
    uow: UnitOfWorkFactory
    telemetry: TelemetryStore
    clock: FakeClock
    shared_pushes: list[tuple[str, dict[str, Any]]]
    admin_headers: dict[str, str]

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        """Authorization headers of a freshly logged-in user."""
        response = await self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def call(
        self, method: str, path: str, headers: dict[str, str], json: Any = None, **kwargs: Any
    ) -> httpx.Response:
        """One request to /api/v1{path}."""
        return await self.client.request(method, f"/api/v1{path}", headers=headers, json=json, **kwargs)

    async def create(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """POST and return the created object, failing the test on any other status."""
        response = await self.client.post(f"/api/v1{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


async def open_api(stack: Stack) -> AsyncIterator[Api]:
    """Migrate the stack's metadata database, wire the services, create the first admin and yield a client
    of the app."""
    engine = create_metadata_engine(stack.metadata_url())
    upgrade_to_head(engine)
    uow = SqlUnitOfWorkFactory(engine)
    telemetry = stack.telemetry_store()
    clock = FakeClock()
    pushes: list[tuple[str, dict[str, Any]]] = []
    services = build_services(
        uow,
        telemetry,
        clock,
        JWT_SECRET,
        900,
        on_shared_attributes=lambda device_id, values: pushes.append((device_id, values)),
        passwords=cheap_passwords(),
        attachments=MemoryAttachmentStore(),
    )
    services.auth.ensure_admin("admin", ADMIN_PASSWORD)
    registry = CollectorRegistry()
    Counter(
        "openiiot_test_events",
        "A counter that proves /metrics reads the platform registry",
        registry=registry,
    ).inc()
    app = create_app(PlatformStandIn(services=services, registry=registry))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://openiiot.test") as client:
            api = Api(client, app, services, uow, telemetry, clock, pushes, {})
            api.admin_headers = await api.login("admin", ADMIN_PASSWORD)
            yield api
    finally:
        engine.dispose()


@pytest.fixture(name="api")
async def api_fixture(stack: Stack) -> AsyncIterator[Api]:
    """A fresh platform per test, on each stack."""
    async for opened in open_api(stack):
        yield opened


@dataclass
class TenantObjects:
    """A tenant populated through the API, with logged-in users of several roles."""

    tenant_id: str
    site_id: str
    asset_id: str
    profile_id: str
    device_id: str
    device_token: str
    user_ids: dict[Role, str]
    headers: dict[Role, dict[str, str]]
    api_key_id: str


async def populate(api: Api, name: str) -> TenantObjects:
    """Create a tenant with users of every role, a site, an asset, a profile, a device and an API key."""
    tenant = await api.create("/tenants", {"name": name, "timezone": "Asia/Shanghai"}, api.admin_headers)
    user_ids: dict[Role, str] = {}
    headers: dict[Role, dict[str, str]] = {}
    for role in (Role.TENANT_ADMIN, Role.OPERATOR, Role.TECHNICIAN, Role.VIEWER):
        username = f"{name}-{role.value}"
        body = {"username": username, "password": PASSWORD, "role": role.value, "tenant_id": tenant["id"]}
        user_ids[role] = (await api.create("/users", body, api.admin_headers))["id"]
        headers[role] = await api.login(username)
    admin = headers[Role.TENANT_ADMIN]
    site = await api.create("/sites", {"name": f"{name} plant"}, admin)
    asset = await api.create("/assets", {"name": "compressor station", "site_id": site["id"]}, admin)
    profile = await api.create(
        "/device-profiles",
        {
            "name": "air compressor",
            "keys": [
                {"key": "pressure_bar", "unit": "bar", "min_value": 0, "max_value": 16, "precision": 2},
                {"key": "energy_kwh", "unit": "kWh", "kind": "counter"},
                {"key": "firmware", "kind": "text"},
            ],
            "inactivity_timeout_s": 300,
        },
        admin,
    )
    created = await api.create(
        "/devices", {"name": f"{name}-ac-1", "profile_id": profile["id"], "asset_id": asset["id"]}, admin
    )
    key = await api.create("/api-keys", {"name": "scada", "role": "viewer"}, admin)
    return TenantObjects(
        tenant_id=tenant["id"],
        site_id=site["id"],
        asset_id=asset["id"],
        profile_id=profile["id"],
        device_id=created["device"]["id"],
        device_token=created["access_token"],
        user_ids=user_ids,
        headers=headers,
        api_key_id=key["id"],
    )


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem details with this status (and, if given, naming this field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("https://openiiot.dev/problems/")
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.text
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body
