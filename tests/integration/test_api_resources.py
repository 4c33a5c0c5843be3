"""CRUD of every management resource through HTTP over SQLite, role denials and input validation."""

from __future__ import annotations

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.domain.model import Role

pytestmark = pytest.mark.integration


async def test_tenant_crud_by_platform_admin(api: Api) -> None:
    h = api.admin_headers
    created = await api.create(
        "/tenants", {"name": "Acme Air", "region_code": "320506", "industry_code": "C3441"}, h
    )
    assert created["timezone"] == "Asia/Shanghai" and created["retention_days"] == 365
    updated = await api.call("PUT", f"/tenants/{created['id']}", h, {"timezone": "Europe/Berlin"})
    assert updated.status_code == 200 and updated.json()["timezone"] == "Europe/Berlin"
    assert updated.json()["name"] == "Acme Air"  # omitted fields keep their value
    listed = (await api.call("GET", "/tenants", h)).json()
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    assert (await api.call("DELETE", f"/tenants/{created['id']}", h)).status_code == 204
    assert_problem(await api.call("GET", f"/tenants/{created['id']}", h), 404)


async def test_tenant_validation_names_the_field(api: Api) -> None:
    h = api.admin_headers
    assert_problem(
        await api.call("POST", "/tenants", h, {"name": "x", "timezone": "Mars/Olympus"}), 422, "timezone"
    )
    assert_problem(
        await api.call("POST", "/tenants", h, {"name": "x", "region_code": "12"}), 422, "region_code"
    )
    assert_problem(await api.call("POST", "/tenants", h, {"timezone": "UTC"}), 422, "name")
    assert_problem(await api.call("POST", "/tenants", h, {"name": "x", "colour": "red"}), 422, "colour")
    tenant = await api.create("/tenants", {"name": "x"}, h)
    assert_problem(await api.call("PUT", f"/tenants/{tenant['id']}", h, {"name": None}), 422, "name")


async def test_non_empty_tenant_delete_conflicts(api: Api) -> None:
    t = await populate(api, "acme")
    assert_problem(await api.call("DELETE", f"/tenants/{t.tenant_id}", api.admin_headers), 409)


async def test_users_crud_and_role_limits(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    user = await api.create(
        "/users", {"username": "olga", "password": "long-enough", "role": "operator"}, admin
    )
    assert user["tenant_id"] == t.tenant_id and "password" not in user and "password_hash" not in user
    assert (await api.login("olga", "long-enough"))["Authorization"].startswith("Bearer ")
    changed = await api.call("PUT", f"/users/{user['id']}", admin, {"role": "viewer", "locale": "zh-CN"})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    duplicate = await api.call(
        "POST", "/users", admin, {"username": "olga", "password": "long-enough", "role": "viewer"}
    )
    assert_problem(duplicate, 409, "username")
    escalate = {"username": "mallory", "password": "long-enough", "role": "platform-admin"}
    assert_problem(await api.call("POST", "/users", admin, escalate), 403)
    short = {"username": "shorty", "password": "short", "role": "viewer"}
    assert_problem(await api.call("POST", "/users", admin, short), 422, "password")
    own = t.user_ids[Role.TENANT_ADMIN]
    assert_problem(await api.call("DELETE", f"/users/{own}", admin), 409)
    assert (await api.call("DELETE", f"/users/{user['id']}", admin)).status_code == 204
    listed = (await api.call("GET", "/users", admin)).json()["items"]
    assert {u["username"] for u in listed} == {f"acme-{r.value}" for r in t.user_ids}


async def test_user_changes_own_password_but_not_role(api: Api) -> None:
    t = await populate(api, "acme")
    viewer, own = t.headers[Role.VIEWER], t.user_ids[Role.VIEWER]
    response = await api.call("PUT", f"/users/{own}", viewer, {"password": "brand-new-password"})
    assert response.status_code == 200
    await api.login("acme-viewer", "brand-new-password")
    assert_problem(await api.call("PUT", f"/users/{own}", viewer, {"role": "tenant-admin"}), 403)


async def test_sites_and_asset_tree(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    site = await api.create("/sites", {"name": "Suzhou plant", "latitude": 31.3, "longitude": 120.6}, admin)
    line = await api.create("/assets", {"name": "line 1", "site_id": site["id"]}, admin)
    machine = await api.create(
        "/assets", {"name": "robot 7", "site_id": site["id"], "parent_id": line["id"]}, admin
    )
    children = (await api.call("GET", f"/assets/{line['id']}/children", admin)).json()
    assert [c["id"] for c in children] == [machine["id"]]
    by_site = (await api.call("GET", "/assets", admin, params={"site_id": site["id"]})).json()["items"]
    assert {a["id"] for a in by_site} == {line["id"], machine["id"]}
    cycle = await api.call("PUT", f"/assets/{line['id']}", admin, {"parent_id": machine["id"]})
    assert_problem(cycle, 422, "parent_id")
    maint = await api.call(
        "POST", f"/assets/{machine['id']}/maintenance", t.headers[Role.OPERATOR], {"on": True}
    )
    assert maint.status_code == 200 and maint.json()["maintenance_mode"] is True
    assert_problem(await api.call("DELETE", f"/sites/{site['id']}", admin), 409)  # still has assets
    assert_problem(await api.call("DELETE", f"/assets/{line['id']}", admin), 409)  # has a child
    assert (await api.call("DELETE", f"/assets/{machine['id']}", admin)).status_code == 204
    assert (await api.call("DELETE", f"/assets/{line['id']}", admin)).status_code == 204
    renamed = await api.call("PUT", f"/sites/{site['id']}", admin, {"name": "Suzhou 2", "address": None})
    assert renamed.json()["name"] == "Suzhou 2" and renamed.json()["latitude"] == 31.3
    assert (await api.call("DELETE", f"/sites/{site['id']}", admin)).status_code == 204
    assert_problem(await api.call("POST", "/sites", admin, {"name": "x", "latitude": 91}), 422, "latitude")


async def test_device_profiles_crud(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    body = {"name": "chiller", "strict": True, "keys": [{"key": "supply_c", "unit": "°C", "precision": 1}]}
    profile = await api.create("/device-profiles", body, admin)
    assert profile["keys"][0]["kind"] == "measurement" and profile["inactivity_timeout_s"] == 600
    assert_problem(await api.call("POST", "/device-profiles", admin, body), 409, "name")
    bad = {"name": "p2", "keys": [{"key": "x", "kind": "weird"}]}
    assert_problem(await api.call("POST", "/device-profiles", admin, bad), 422, "keys.0.kind")
    bad_key = {"name": "p3", "keys": [{"key": "has space"}]}
    assert_problem(await api.call("POST", "/device-profiles", admin, bad_key), 422)
    bad_range = {"name": "p4", "keys": [{"key": "x", "min_value": 5, "max_value": 1}]}
    assert_problem(await api.call("POST", "/device-profiles", admin, bad_range), 422, "min_value")
    changed = await api.call("PUT", f"/device-profiles/{profile['id']}", admin, {"inactivity_timeout_s": 120})
    assert changed.json()["inactivity_timeout_s"] == 120 and changed.json()["keys"] == profile["keys"]
    assert_problem(await api.call("DELETE", f"/device-profiles/{t.profile_id}", admin), 409)  # in use
    assert (await api.call("DELETE", f"/device-profiles/{profile['id']}", admin)).status_code == 204


async def test_devices_crud_search_and_paging(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    for i in range(5):
        await api.create(
            "/devices", {"name": f"pump-{i}", "profile_id": t.profile_id, "label": "cooling"}, admin
        )
    page = (
        await api.call("GET", "/devices", admin, params={"search": "pump", "limit": 2, "offset": 2})
    ).json()
    assert page["total"] == 5 and [d["name"] for d in page["items"]] == ["pump-2", "pump-3"]
    by_asset = (await api.call("GET", "/devices", admin, params={"asset_id": t.asset_id})).json()
    assert [d["id"] for d in by_asset["items"]] == [t.device_id] and by_asset["total"] == 1
    everything = (await api.call("GET", "/devices", admin, params={"profile_id": t.profile_id})).json()
    assert everything["total"] == 6
    assert "token_hash" not in everything["items"][0] and "access_token" not in everything["items"][0]
    assert_problem(await api.call("GET", "/devices", admin, params={"limit": 1001}), 422, "limit")
    assert_problem(await api.call("GET", "/devices", admin, params={"offset": -1}), 422, "offset")
    device = page["items"][0]
    moved = await api.call(
        "PUT", f"/devices/{device['id']}", admin, {"asset_id": t.asset_id, "label": "spare"}
    )
    assert moved.json()["asset_id"] == t.asset_id and moved.json()["name"] == "pump-2"
    assert_problem(await api.call("PUT", f"/devices/{device['id']}", admin, {"name": "pump-3"}), 409, "name")
    unknown = await api.call("POST", "/devices", admin, {"name": "x", "profile_id": "nope"})
    assert_problem(unknown, 422, "profile_id")
    assert_problem(await api.call("POST", "/devices", admin, {"profile_id": t.profile_id}), 422, "name")
    disabled = await api.call("POST", f"/devices/{device['id']}/disable", admin)
    assert disabled.json()["disabled"] is True
    assert (await api.call("POST", f"/devices/{device['id']}/enable", admin)).json()["disabled"] is False
    assert (await api.call("DELETE", f"/devices/{device['id']}", admin)).status_code == 204
    assert_problem(await api.call("GET", f"/devices/{device['id']}", admin), 404)


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (Role.VIEWER, "POST", "/devices", {"name": "x", "profile_id": "{profile}"}),
        (Role.VIEWER, "PUT", "/devices/{device}", {"label": "x"}),
        (Role.OPERATOR, "DELETE", "/devices/{device}", None),
        (Role.TECHNICIAN, "POST", "/devices/{device}/credentials/rotate", None),
        (Role.OPERATOR, "POST", "/sites", {"name": "x"}),
        (Role.OPERATOR, "PUT", "/device-profiles/{profile}", {"strict": True}),
        (Role.VIEWER, "PUT", "/devices/{device}/attributes/server", {"k": 1}),
        (Role.VIEWER, "POST", "/users", {"username": "zed", "password": "long-enough", "role": "viewer"}),
        (Role.OPERATOR, "POST", "/api-keys", {"name": "k"}),
        (Role.TENANT_ADMIN, "POST", "/tenants", {"name": "mine"}),
        (Role.TENANT_ADMIN, "DELETE", "/tenants/{tenant}", None),
        (Role.TECHNICIAN, "POST", "/assets/{asset}/maintenance", {"on": True}),
    ],
)
async def test_roles_are_enforced(api: Api, role: Role, method: str, path: str, body: dict | None) -> None:
    t = await populate(api, "acme")
    ids = {"device": t.device_id, "profile": t.profile_id, "tenant": t.tenant_id, "asset": t.asset_id}
    if body is not None:
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
    response = await api.call(method, path.format(**ids), t.headers[role], body)
    assert_problem(response, 403)


async def test_every_role_reads_its_tenant(api: Api) -> None:
    t = await populate(api, "acme")
    for role in (Role.VIEWER, Role.TECHNICIAN, Role.OPERATOR, Role.TENANT_ADMIN):
        for path in ("/devices", "/sites", "/assets", "/device-profiles", "/users", "/tenants"):
            assert (await api.call("GET", path, t.headers[role])).status_code == 200, (role, path)
