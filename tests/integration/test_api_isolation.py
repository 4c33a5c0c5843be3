"""Tenant isolation, endpoint by endpoint: tenant B's admin gets 404 for every call on tenant A's objects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from tests.integration.api_fixtures import Api, TenantObjects, assert_problem, open_api, populate
from tests.integration.stack_fixtures import open_stack, selected_stacks

from openiiot.domain.credentials import token_matches
from openiiot.domain.model import Role

# one platform for the whole module: every case is a refused call, so none changes what the next one sees
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class World:
    api: Api
    a: TenantObjects
    b: TenantObjects


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=selected_stacks())
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    stack = open_stack(request.param, request, tmp_path_factory.mktemp("isolation"))
    try:
        async for api in open_api(stack):
            a = await populate(api, "alpha")
            b = await populate(api, "beta")
            yield World(api, a, b)
    finally:
        stack.close()


ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/tenants/{tenant}", None),
    ("PUT", "/tenants/{tenant}", {"name": "pwned"}),
    ("DELETE", "/tenants/{tenant}", None),
    ("GET", "/users/{user}", None),
    ("PUT", "/users/{user}", {"display_name": "pwned"}),
    ("DELETE", "/users/{user}", None),
    ("GET", "/sites/{site}", None),
    ("PUT", "/sites/{site}", {"name": "pwned"}),
    ("DELETE", "/sites/{site}", None),
    ("GET", "/assets/{asset}", None),
    ("GET", "/assets/{asset}/children", None),
    ("PUT", "/assets/{asset}", {"name": "pwned"}),
    ("POST", "/assets/{asset}/maintenance", {"on": True}),
    ("DELETE", "/assets/{asset}", None),
    ("GET", "/device-profiles/{profile}", None),
    ("PUT", "/device-profiles/{profile}", {"strict": True}),
    ("DELETE", "/device-profiles/{profile}", None),
    ("GET", "/devices/{device}", None),
    ("PUT", "/devices/{device}", {"label": "pwned"}),
    ("DELETE", "/devices/{device}", None),
    ("POST", "/devices/{device}/credentials/rotate", None),
    ("POST", "/devices/{device}/disable", None),
    ("POST", "/devices/{device}/enable", None),
    ("GET", "/devices/{device}/attributes/client", None),
    ("GET", "/devices/{device}/attributes/server", None),
    ("PUT", "/devices/{device}/attributes/server", {"pwned": True}),
    ("PUT", "/devices/{device}/attributes/shared", {"pwned": True}),
    ("DELETE", "/devices/{device}/attributes/server/note", None),
    ("GET", "/devices/{device}/telemetry/latest", None),
    ("GET", "/devices/{device}/telemetry?keys=pressure_bar", None),
    ("GET", "/devices/{device}/telemetry?keys=pressure_bar&interval=1h&agg=max", None),
    ("GET", "/devices/{device}/consumption?key=energy_kwh", None),
    ("DELETE", "/api-keys/{api_key}", None),
]


def _path(template: str, objects: TenantObjects) -> str:
    return template.format(
        tenant=objects.tenant_id,
        user=objects.user_ids[Role.VIEWER],
        site=objects.site_id,
        asset=objects.asset_id,
        profile=objects.profile_id,
        device=objects.device_id,
        api_key=objects.api_key_id,
    )


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
async def test_other_tenants_objects_are_not_found(
    world: World, method: str, template: str, body: Any
) -> None:
    intruder = world.b.headers[Role.TENANT_ADMIN]
    response = await world.api.call(method, _path(template, world.a), intruder, body)
    assert_problem(response, 404)
    # the same call on the intruder's own object is allowed, so the 404 is isolation, not a broken route
    if method == "GET":
        own = await world.api.call(method, _path(template, world.b), intruder, body)
        assert own.status_code == 200, own.text


async def test_lists_show_only_own_tenant(world: World) -> None:
    intruder = world.b.headers[Role.TENANT_ADMIN]
    for path in ("/devices", "/sites", "/assets", "/device-profiles", "/users", "/tenants"):
        items = (await world.api.call("GET", path, intruder)).json()["items"]
        assert items and all(world.b.tenant_id in (i.get("tenant_id"), i.get("id")) for i in items), path
    keys = (await world.api.call("GET", "/api-keys", intruder)).json()
    assert [k["id"] for k in keys] == [world.b.api_key_id]
    devices = await world.api.call("GET", "/devices", intruder, params={"profile_id": world.a.profile_id})
    assert devices.json()["total"] == 0


async def test_cross_tenant_references_and_creation_are_refused(world: World) -> None:
    intruder = world.b.headers[Role.TENANT_ADMIN]
    foreign_profile = {"name": "sneaky", "profile_id": world.a.profile_id}
    assert_problem(await world.api.call("POST", "/devices", intruder, foreign_profile), 422, "profile_id")
    foreign_site = {"name": "sneaky", "site_id": world.a.site_id}
    assert_problem(await world.api.call("POST", "/assets", intruder, foreign_site), 422, "site_id")
    into_a = {"name": "sneaky", "tenant_id": world.a.tenant_id}
    assert_problem(await world.api.call("POST", "/sites", intruder, into_a), 403)
    csv = f"name,profile\nsneaky,{world.a.profile_id}\n".encode()
    bulk = await world.api.client.post(
        "/api/v1/devices/bulk", headers=intruder, files={"file": ("d.csv", csv, "text/csv")}
    )
    assert bulk.status_code == 200 and bulk.json()["created"] == []
    assert bulk.json()["errors"] == [
        {"row": 2, "field": "profile", "reason": bulk.json()["errors"][0]["reason"]}
    ]


async def test_tenant_a_is_untouched(world: World) -> None:
    admin_a = world.a.headers[Role.TENANT_ADMIN]
    device = (await world.api.call("GET", f"/devices/{world.a.device_id}", admin_a)).json()
    assert device["label"] == "" and device["disabled"] is False
    with world.api.uow() as uow:
        assert token_matches(world.a.device_token, uow.devices.get(None, world.a.device_id).token_hash)
    tenant = (await world.api.call("GET", f"/tenants/{world.a.tenant_id}", admin_a)).json()
    assert tenant["name"] == "alpha"
    attrs = (await world.api.call("GET", f"/devices/{world.a.device_id}/attributes/shared", admin_a)).json()
    assert attrs["attributes"] == [] and world.api.shared_pushes == []
