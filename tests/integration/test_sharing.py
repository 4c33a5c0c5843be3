"""Sharing grants: a customer grants an equipment maker access to chosen devices, keys and actions; the
maker sees and acts on exactly that through /shared, every access is in the customer's audit log, and a
revoked grant stops everything at once — endpoint by endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.api_fixtures import (
    Api,
    TenantObjects,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.domain.alarms import Alarm, AlarmAction, AlarmEvent, Severity
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch

pytestmark = pytest.mark.integration
DAY = 86_400_000


async def setup(api: Api) -> tuple[TenantObjects, TenantObjects, str, str]:
    customer = await populate(api, "customer")
    maker = await populate(api, "maker")
    admin = customer.headers[Role.TENANT_ADMIN]
    other = await api.create(
        "/devices", {"name": "not-shared", "profile_id": customer.profile_id}, admin
    )  # a second device of the customer, never granted
    batch = TelemetryBatch()
    for device_id in (customer.device_id, other["device"]["id"]):
        batch.add(device_id, "pressure_bar", api.clock.now - 1000, 7.2, None)
        batch.add(device_id, "energy_kwh", api.clock.now - 1000, 1200.0, None)
    api.telemetry.append(batch)
    alarm = Alarm(
        id="alarm-1", tenant_id=customer.tenant_id, originator_id=customer.device_id, rule_id="r",
        alarm_type="High pressure", severity=Severity.MAJOR, raised_ms=api.clock.now - 500,
        history=(AlarmEvent(api.clock.now - 500, AlarmAction.RAISED, "system", Severity.MAJOR),),
    )  # fmt: skip
    with api.uow() as uow:
        uow.alarms.save_alarm(alarm)
        uow.commit()
    return customer, maker, other["device"]["id"], alarm.id


async def grant(api: Api, customer: TenantObjects, maker: TenantObjects, **overrides: Any) -> dict[str, Any]:
    body = {
        "grantee_tenant_id": maker.tenant_id,
        "device_ids": [customer.device_id],
        "telemetry_keys": ["pressure_bar"],
        "permissions": ["telemetry", "alarms", "commands", "work_orders"],
        "expires_ms": api.clock.now + DAY,
        **overrides,
    }
    return await api.create("/grants", body, customer.headers[Role.TENANT_ADMIN])


SHARED_CALLS: list[tuple[str, str, Any, str]] = [
    # (method, path with {device} and {alarm}, body, permission it needs)
    ("GET", "/shared/devices/{device}/telemetry/latest", None, "telemetry"),
    (
        "GET",
        "/shared/devices/{device}/telemetry?keys=pressure_bar&start=2020-01-01T00:00:00Z",
        None,
        "telemetry",
    ),
    ("GET", "/shared/devices/{device}/alarms", None, "alarms"),
    ("POST", "/shared/devices/{device}/alarms/{alarm}/acknowledge", None, "alarms"),
    ("POST", "/shared/devices/{device}/commands", {"method": "reboot"}, "commands"),
    ("GET", "/shared/devices/{device}/work-orders", None, "work_orders"),
    ("POST", "/shared/devices/{device}/work-orders", {"title": "Inspect"}, "work_orders"),
]


@pytest.mark.parametrize(("method", "path", "body", "permission"), SHARED_CALLS)
async def test_each_shared_endpoint_serves_only_granted_devices_and_permissions(
    api: Api, method: str, path: str, body: Any, permission: str
) -> None:
    customer, maker, other_device, alarm_id = await setup(api)
    tech = maker.headers[Role.OPERATOR]
    url = path.format(device=customer.device_id, alarm=alarm_id)
    # nothing granted yet: the device does not exist for the maker
    assert_problem(await api.call(method, url, tech, json=body), 404)
    without = [p for p in ("telemetry", "alarms", "commands", "work_orders") if p != permission]
    await grant(api, customer, maker, permissions=without)
    assert_problem(await api.call(method, url, tech, json=body), 403)
    await grant(api, customer, maker)
    response = await api.call(method, url, tech, json=body)
    # the command names an undeclared method: refused by the customer's profile, after the grant let it in
    expected = 422 if "commands" in path else (201 if method == "POST" and "work-orders" in path else 200)
    assert response.status_code == expected, response.text
    # another device of the customer is never reachable through the grant
    other_url = path.format(device=other_device, alarm=alarm_id)
    assert_problem(await api.call(method, other_url, tech, json=body), 404)
    # revoked: gone at once (both grants given in this test)
    admin = customer.headers[Role.TENANT_ADMIN]
    for given_grant in (await api.call("GET", "/grants", admin)).json():
        revoked = await api.call("POST", f"/grants/{given_grant['id']}/revoke", admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_ms"] == api.clock.now
    assert_problem(await api.call(method, url, tech, json=body), 404)


async def test_the_partner_sees_exactly_the_granted_keys_and_the_customer_sees_every_access(api: Api) -> None:
    customer, maker, _other_device, alarm_id = await setup(api)
    await grant(api, customer, maker)
    tech = maker.headers[Role.TECHNICIAN]
    devices = (await api.call("GET", "/shared/devices", tech)).json()
    assert [d["id"] for d in devices] == [customer.device_id]
    latest = (await api.call("GET", f"/shared/devices/{customer.device_id}/telemetry/latest", tech)).json()
    assert set(latest["values"]) == {"pressure_bar"}  # energy_kwh exists but was not granted
    refused = await api.call(
        "GET", f"/shared/devices/{customer.device_id}/telemetry/latest?keys=energy_kwh", tech
    )
    assert_problem(refused, 403)
    # the maker's ordinary endpoints stay blind to the customer's tenant
    assert_problem(await api.call("GET", f"/devices/{customer.device_id}", tech), 404)
    assert_problem(await api.call("GET", f"/alarms/{alarm_id}", tech), 404)
    # a technician of the maker cannot acknowledge (operators can), as in the customer's own tenant
    assert_problem(
        await api.call("POST", f"/shared/devices/{customer.device_id}/alarms/{alarm_id}/acknowledge", tech),
        403,
    )
    acked = await api.call(
        "POST",
        f"/shared/devices/{customer.device_id}/alarms/{alarm_id}/acknowledge",
        maker.headers[Role.OPERATOR],
    )
    assert acked.json()["acknowledged"] is True

    log = (await api.call("GET", "/audit?limit=1000", customer.headers[Role.TENANT_ADMIN])).json()["items"]
    accesses = [e for e in log if e["action"] == "grant.access"]
    assert {e["details"]["access"] for e in accesses} >= {
        "device.read",
        "telemetry.latest",
        "alarms.acknowledge",
    }
    assert {e["actor_tenant_id"] for e in accesses} == {maker.tenant_id}
    assert any(
        e["outcome"] == "denied" and e["details"].get("refused_keys") == ["energy_kwh"] for e in accesses
    )
    ack = next(e for e in log if e["action"] == "alarm.acknowledge")
    assert (ack["actor_name"], ack["actor_tenant_id"]) == ("maker-operator", maker.tenant_id)
    # the maker's own log does not hold the customer's records
    own = (await api.call("GET", "/audit?action=grant.", maker.headers[Role.TENANT_ADMIN])).json()["items"]
    assert own == []


async def test_grants_are_validated_and_expire(api: Api) -> None:
    customer, maker, _other, _alarm = await setup(api)
    admin = customer.headers[Role.TENANT_ADMIN]
    foreign = await api.call(
        "POST", "/grants", admin,
        json={"grantee_tenant_id": maker.tenant_id, "device_ids": [maker.device_id],
              "expires_ms": api.clock.now + DAY},
    )  # fmt: skip
    assert_problem(foreign, 404)  # only one's own devices can be granted
    assert_problem(
        await api.call("POST", "/grants", admin, json={"grantee_tenant_id": customer.tenant_id,
                       "device_ids": [customer.device_id], "expires_ms": api.clock.now + DAY}),
        422, "grantee_tenant_id",
    )  # fmt: skip
    assert_problem(
        await api.call("POST", "/grants", admin, json={"grantee_tenant_id": maker.tenant_id,
                       "device_ids": [customer.device_id], "expires_ms": api.clock.now - 1}),
        422, "expires_ms",
    )  # fmt: skip
    assert_problem(
        await api.call("POST", "/grants", customer.headers[Role.OPERATOR], json={
            "grantee_tenant_id": maker.tenant_id, "device_ids": [customer.device_id],
            "expires_ms": api.clock.now + DAY}),
        403,
    )  # fmt: skip
    await grant(api, customer, maker, expires_ms=api.clock.now + 60_000)
    url = f"/shared/devices/{customer.device_id}/telemetry/latest"
    assert (await api.call("GET", url, maker.headers[Role.VIEWER])).status_code == 200
    api.clock.now += 61_000
    viewer = await api.login("maker-viewer")
    assert_problem(await api.call("GET", url, viewer), 404)
    assert (await api.call("GET", "/shared/grants", viewer)).json() == []
