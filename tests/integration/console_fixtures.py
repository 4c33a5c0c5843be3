"""Signing in to the web console through its own form, over the API test platform."""

from __future__ import annotations

import re

import httpx
from tests.integration.api_fixtures import PASSWORD, Api, TenantObjects

from openiiot.domain.alarms.lifecycle import Alarm
from openiiot.domain.alarms.rules import Severity
from openiiot.domain.model import Role


async def console_login(api: Api, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A new client of the same app, signed in through the console's form (with its CSRF cookie)."""
    client = httpx.AsyncClient(transport=api.client._transport, base_url="http://openiiot.test")
    form = await client.get("/console/login")
    assert form.status_code == 200
    token = client.cookies.get("openiiot_login_csrf")
    assert token and f'value="{token}"' in form.text
    response = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/console/fleet"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/fleet"
    return client


def csrf_of(page: str) -> str:
    """The session's CSRF token as the page's forms carry it."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def raise_alarm(api: Api, acme: TenantObjects, alarm_type: str = "high pressure") -> str:
    """A rule on the tenant's profile and the alarm it raised, stored as the alarm engine stores it."""
    rule = {
        "name": alarm_type,
        "alarm_type": alarm_type,
        "levels": [
            {
                "severity": "major",
                "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 9},
            }
        ],
    }
    response = await api.call(
        "POST",
        "/alarm-rules",
        acme.headers[Role.TENANT_ADMIN],
        json={"profile_id": acme.profile_id, "rule": rule},
    )
    assert response.status_code == 201, response.text
    alarm = Alarm(
        id=f"alarm-{acme.device_id}",
        tenant_id=acme.tenant_id,
        originator_id=acme.device_id,
        rule_id=response.json()["id"],
        alarm_type=alarm_type,
        severity=Severity.MAJOR,
        raised_ms=api.clock.now - 60_000,
    )
    with api.uow() as uow:
        uow.alarms.save_alarm(alarm)
        uow.commit()
    return alarm.id
