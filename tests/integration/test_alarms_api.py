"""Alarms end to end: a rule created over the API fires from telemetry posted over the HTTP device API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.stack_fixtures import Stack
from tests.polling import eventually

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform

pytestmark = pytest.mark.integration
PASSWORD = "alarm-test-password"


def pressure_rule(**overrides: Any) -> dict[str, Any]:
    """pressure_bar > 8 → major, > 9 → critical."""
    rule: dict[str, Any] = {
        "id": "pressure",
        "name": "Discharge pressure",
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
    }
    rule.update(overrides)
    return rule


def start_platform(stack: Stack, data_dir: Path) -> Platform:
    settings = stack.platform_settings(data_dir)
    built = build_platform(settings)
    built.start()
    built.services.auth.ensure_admin("admin", PASSWORD)
    return built


@dataclass
class World:
    """A tenant with a compressor profile and one device, seen through the API."""

    api: httpx.AsyncClient
    tenant_id: str
    profile_id: str
    device_id: str
    token: str

    async def post_pressure(self, ts_ms: int, value: float) -> None:
        response = await self.api.post(
            f"/api/v1/device/{self.device_id}/telemetry",
            json={"ts": ts_ms, "values": {"pressure_bar": value}},
            headers={"X-Device-Token": self.token},
        )
        assert response.status_code == 200, response.text

    async def alarms(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.api.get("/api/v1/alarms", params=params)
        assert response.status_code == 200, response.text
        return sorted(response.json()["items"], key=lambda a: a["raised_ms"])


@pytest.fixture
def platform(tmp_path: Path, stack: Stack) -> Iterator[Platform]:
    built = start_platform(stack, tmp_path)
    try:
        yield built
    finally:
        built.stop()


@asynccontextmanager
async def client_of(
    platform: Platform, username: str = "admin", password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """An API client of the platform, logged in."""
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://p") as client:
        token = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def provision(api: httpx.AsyncClient, tenant_name: str) -> World:
    tenant = (await api.post("/api/v1/tenants", json={"name": tenant_name})).json()
    profile = (
        await api.post(
            "/api/v1/device-profiles",
            json={"tenant_id": tenant["id"], "name": "compressor", "keys": [{"key": "pressure_bar"}]},
        )
    ).json()
    device = (
        await api.post(
            "/api/v1/devices", json={"tenant_id": tenant["id"], "name": "C1", "profile_id": profile["id"]}
        )
    ).json()
    return World(api, tenant["id"], profile["id"], device["device"]["id"], device["access_token"])


@pytest.fixture
async def world(platform: Platform) -> AsyncIterator[World]:
    async with client_of(platform) as api:
        yield await provision(api, "Acme Air")


async def create_rule(world: World, rule: dict[str, Any]) -> httpx.Response:
    return await world.api.post(
        "/api/v1/alarm-rules",
        json={"tenant_id": world.tenant_id, "profile_id": world.profile_id, "rule": rule},
    )


async def test_an_alarm_is_raised_escalated_acknowledged_cleared_and_raised_anew(world: World) -> None:
    assert (await create_rule(world, pressure_rule())).status_code == 201
    # devices stamp values with their own current time; the 2 s tick also advances rule state to now, so
    # a value stamped before the last tick would count as late (decision 0006)
    t0 = int(time.time() * 1000)
    await world.post_pressure(t0, 8.5)

    async def one_alarm(severity: str) -> Any:
        found = await world.alarms(active=True)
        return found if len(found) == 1 and found[0]["severity"] == severity else None

    [alarm] = await eventually(lambda: one_alarm("major"), 10, "a major alarm")
    assert alarm["originator_id"] == world.device_id and alarm["raised_ms"] == t0
    await world.post_pressure(int(time.time() * 1000), 9.4)
    [alarm] = await eventually(lambda: one_alarm("critical"), 10, "escalation to critical")

    acked = await world.api.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", json={"comment": "on my way"})
    assert acked.status_code == 200 and acked.json()["acknowledged"]
    assert acked.json()["history"][-1]["comment"] == "on my way"

    t_clear = int(time.time() * 1000)
    await world.post_pressure(t_clear, 6.0)

    async def cleared() -> Any:
        return (await world.api.get(f"/api/v1/alarms/{alarm['id']}")).json()["cleared_ms"]

    assert await eventually(cleared, 10, "the alarm to clear") == t_clear
    await world.post_pressure(int(time.time() * 1000), 8.2)
    [new] = await eventually(lambda: one_alarm("major"), 10, "a new alarm after clear")
    assert new["id"] != alarm["id"]
    assert [a["active"] for a in await world.alarms()] == [False, True]
    kpis = (await world.api.get("/api/v1/alarms/kpis", params={"from_ms": t0, "to_ms": t0 + 600_000})).json()
    assert kpis["alarm_count"] == 2


async def test_an_invalid_rule_is_refused_naming_the_bad_part(world: World) -> None:
    rule = pressure_rule()
    rule["levels"][1]["condition"]["op"] = "~"
    response = await create_rule(world, rule)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rule.levels[1].condition.op"
    assert (await world.api.get("/api/v1/alarm-rules")).json()["items"] == []


async def test_another_tenants_alarm_is_not_found(platform: Platform, world: World) -> None:
    assert (await create_rule(world, pressure_rule())).status_code == 201
    await world.post_pressure(int(time.time() * 1000), 9.9)
    [alarm] = await eventually(world.alarms, 10, "an alarm")
    other = await provision(world.api, "Other Co")
    user = {
        "tenant_id": other.tenant_id,
        "username": "olga",
        "password": "a-long-password",
        "role": "operator",
    }
    assert (await world.api.post("/api/v1/users", json=user)).status_code == 201
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://p"
    ) as outsider:
        login = await outsider.post(
            "/api/v1/auth/login", json={"username": "olga", "password": "a-long-password"}
        )
        outsider.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        assert (await outsider.get(f"/api/v1/alarms/{alarm['id']}")).status_code == 404
        assert (await outsider.post(f"/api/v1/alarms/{alarm['id']}/acknowledge")).status_code == 404
        assert (await outsider.get("/api/v1/alarms")).json()["items"] == []


async def test_a_duration_half_way_through_survives_a_restart(tmp_path: Path, stack: Stack) -> None:
    held = {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8}
    rule = pressure_rule(
        levels=[{"severity": "major", "condition": {"type": "duration", "condition": held, "duration_s": 3}}]
    )
    first = start_platform(stack, tmp_path)
    try:
        async with client_of(first) as api:
            world = await provision(api, "Acme Air")
            assert (await create_rule(world, rule)).status_code == 201
            # the sample's time is taken now: a scheduler tick evaluates up to 5 s before the clock, and a
            # sample older than that (provisioning on a loaded machine) would arrive too late to count
            t0 = int(time.time() * 1000)
            await world.post_pressure(t0, 9.0)
            await eventually(lambda: _state_saved(first, world.device_id), 30, "the rule state to be stored")
    finally:
        first.stop()
    second = start_platform(stack, tmp_path)  # the same database: a new engine with an empty cache
    try:
        async with client_of(second) as api:
            world.api = api
            await world.post_pressure(t0 + 3500, 9.1)
            [alarm] = await eventually(world.alarms, 30, "the alarm after the restart")  # slow CI machines
            assert alarm["raised_ms"] == t0 + 3000  # the duration started before the restart
    finally:
        second.stop()


async def _state_saved(platform: Platform, device_id: str) -> bool:
    with platform.uow() as uow:
        [rule] = uow.alarms.list_rules(None)
        return uow.alarms.get_state(rule.id, device_id) is not None
