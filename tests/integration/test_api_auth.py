"""Login, bearer tokens, API keys, problem details for authentication failures, health and metrics."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from tests.integration.api_fixtures import (
    ADMIN_PASSWORD,
    Api,
    PlatformStandIn,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.api.app import create_app
from openiiot.domain.model import Role

pytestmark = pytest.mark.integration


async def test_login_and_me(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    body = response.json()
    assert response.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 900
    me = await api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "admin" and me.json()["role"] == "platform-admin"
    assert "password_hash" not in me.json()


async def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    wrong = await api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope-nope"})
    unknown = await api.client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "oik_nope"},
    ],
)
async def test_missing_or_bad_credentials_get_401_with_challenge(api: Api, headers: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/devices", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_token_expires(api: Api) -> None:
    api.clock.now += 900_000
    assert_problem(await api.client.get("/api/v1/auth/me", headers=api.admin_headers), 401)


async def test_api_key_works_in_both_headers_until_revoked(api: Api) -> None:
    t = await populate(api, "acme")
    created = await api.create("/api-keys", {"name": "historian"}, t.headers[Role.TENANT_ADMIN])
    secret = created["secret"]
    assert secret.startswith("oik_") and created["role"] == "tenant-admin"
    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        response = await api.client.get("/api/v1/devices", headers=headers)
        assert response.status_code == 200 and response.json()["total"] == 1
    listed = (await api.client.get("/api/v1/api-keys", headers=t.headers[Role.TENANT_ADMIN])).json()
    assert {k["id"] for k in listed} == {created["id"], t.api_key_id} and all(
        "secret" not in k for k in listed
    )
    revoked = await api.client.delete(
        f"/api/v1/api-keys/{created['id']}", headers=t.headers[Role.TENANT_ADMIN]
    )
    assert revoked.status_code == 204
    assert_problem(await api.client.get("/api/v1/devices", headers={"X-API-Key": secret}), 401)


async def test_viewer_api_key_cannot_write(api: Api) -> None:
    t = await populate(api, "acme")
    key = await api.create("/api-keys", {"name": "ro", "role": "viewer"}, t.headers[Role.TENANT_ADMIN])
    secret = key["secret"]
    response = await api.client.post("/api/v1/sites", json={"name": "x"}, headers={"X-API-Key": secret})
    assert_problem(response, 403)
    escalate = await api.client.post(
        "/api/v1/api-keys", json={"name": "x", "role": "platform-admin"}, headers=t.headers[Role.TENANT_ADMIN]
    )
    assert_problem(escalate, 403)


async def test_disabled_user_is_locked_out_at_once(api: Api) -> None:
    t = await populate(api, "acme")
    viewer = t.headers[Role.VIEWER]
    assert (await api.client.get("/api/v1/devices", headers=viewer)).status_code == 200
    response = await api.client.put(
        f"/api/v1/users/{t.user_ids[Role.VIEWER]}",
        json={"disabled": True},
        headers=t.headers[Role.TENANT_ADMIN],
    )
    assert response.status_code == 200 and response.json()["disabled"]
    assert_problem(await api.client.get("/api/v1/devices", headers=viewer), 401)


async def test_healthz_and_metrics_need_no_auth(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"metadata": True, "telemetry": True}}
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200 and "openiiot_test_events_total 1.0" in metrics.text


async def test_openapi_documents_the_api(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    for path in ("/api/v1/devices", "/api/v1/devices/bulk", "/api/v1/devices/{device_id}/telemetry"):
        assert path in spec["paths"]
    assert (await api.client.get("/docs")).status_code == 200


async def test_unknown_route_and_unexpected_errors_are_problems(api: Api) -> None:
    assert_problem(await api.client.get("/api/v1/nothing-here"), 404)
    boom = APIRouter()

    @boom.get("/boom")
    def explode() -> None:
        raise RuntimeError("secret internals")

    api.app.include_router(boom)
    response = await api.client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text and body["type"].endswith("internal-error")


async def test_extra_routers_are_mounted(api: Api) -> None:
    device_api = APIRouter()

    @device_api.post("/api/v1/device/{device_id}/telemetry")
    def accept(device_id: str) -> dict[str, str]:
        return {"accepted": device_id}

    app = create_app(
        PlatformStandIn(services=api.services, registry=CollectorRegistry(), extra_routers=[device_api])
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/api/v1/device/d-1/telemetry")
    assert response.json() == {"accepted": "d-1"}
