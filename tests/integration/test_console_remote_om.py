"""The console's remote O&M pages: work orders from an alarm to verification, commands, sharing grants."""

from __future__ import annotations

import re

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    populate,
)
from tests.integration.console_fixtures import console_login, csrf_of, raise_alarm
from tests.unit.management_fixtures import PLATFORM_ADMIN

from openiiot.domain.commands import CommandState
from openiiot.domain.model import Role

pytestmark = pytest.mark.integration

METHODS = [
    {
        "name": "set_pressure_setpoint",
        "params": [{"name": "setpoint_bar", "type": "number", "min": 5.5, "max": 8.0, "unit": "bar"}],
    },
    {"name": "stop", "dangerous": True},
]


def _order_id(location: str) -> str:
    found = re.fullmatch(r"/console/workorders/([\w-]+)", location)
    assert found, location
    return found.group(1)


async def test_work_order_from_an_alarm_to_verification(api: Api) -> None:
    acme = await populate(api, "acme")
    alarm_id = await raise_alarm(api, acme, "High pressure")
    api.app.state.console_clock = api.clock
    technician = await console_login(api, "acme-technician")
    alarms = await technician.get("/console/alarms")
    assert "Open work order" in alarms.text
    token = csrf_of(alarms.text)
    opened = await technician.post("/console/workorders", data={"csrf_token": token, "alarm_id": alarm_id})
    assert opened.status_code == 303
    order_id = _order_id(opened.headers["location"])
    page = await technician.get(f"/console/workorders/{order_id}")
    # named after the alarm, placed on the alarm's device and asset, with the SLA due times
    assert "High pressure" in page.text and "acme-ac-1" in page.text and "compressor station" in page.text
    assert "Respond by" in page.text
    assert "Verify the fix" not in page.text and "/assign" not in page.text  # not a technician's steps
    operator = await console_login(api, "acme-operator")
    page = await operator.get(f"/console/workorders/{order_id}")
    assigned = await operator.post(
        f"/console/workorders/{order_id}/assign",
        data={"csrf_token": csrf_of(page.text), "assignee": "acme-technician"},
    )
    assert assigned.status_code == 303
    started = await technician.post(f"/console/workorders/{order_id}/start", data={"csrf_token": token})
    assert started.status_code == 303
    await technician.post(
        f"/console/workorders/{order_id}/add-item", data={"csrf_token": token, "text": "check the valve"}
    )
    await technician.post(
        f"/console/workorders/{order_id}/check", data={"csrf_token": token, "index": "0", "done": "1"}
    )
    held = await technician.post(
        f"/console/workorders/{order_id}/hold", data={"csrf_token": token, "note": " "}
    )
    assert held.status_code == 400 and "say why" in held.text  # a hold needs a reason; nothing changed
    await technician.post(
        f"/console/workorders/{order_id}/resolve", data={"csrf_token": token, "note": "valve replaced"}
    )
    order = api.services.workorders.get(PLATFORM_ADMIN, order_id)
    assert order.state.value == "resolved" and order.assignee == "acme-technician"
    assert order.checklist[0].done and order.checklist[0].done_by == "acme-technician"

    page = await operator.get(f"/console/workorders/{order_id}")
    assert "Verify the fix" in page.text
    token = csrf_of(page.text)
    refused = await operator.post(f"/console/workorders/{order_id}/verify", data={"csrf_token": token})
    assert refused.status_code == 409 and "still active" in refused.text
    api.services.alarms.clear(PLATFORM_ADMIN, alarm_id)
    verified = await operator.post(f"/console/workorders/{order_id}/verify", data={"csrf_token": token})
    assert verified.status_code == 303
    listing = await operator.get("/console/workorders?state=verified")
    assert "High pressure" in listing.text and "mean time to restore (MTTR)" in listing.text

    viewer = await console_login(api, "acme-viewer")
    seen = await viewer.get(f"/console/workorders/{order_id}")
    assert seen.status_code == 200 and "Close" not in seen.text and "New work order" not in seen.text
    forbidden = await viewer.post(
        f"/console/workorders/{order_id}/close", data={"csrf_token": csrf_of(seen.text)}
    )
    assert forbidden.status_code == 403


async def test_work_orders_of_another_tenant_are_not_found(api: Api) -> None:
    acme = await populate(api, "acme")
    await populate(api, "globex")
    alarm_id = await raise_alarm(api, acme, "High pressure")
    order = api.services.workorders.create(
        PLATFORM_ADMIN, {"alarm_id": alarm_id, "title": "t"}, acme.tenant_id
    )
    other = await console_login(api, "globex-operator")
    assert (await other.get(f"/console/workorders/{order.id}")).status_code == 404
    assert "No work orders match." in (await other.get("/console/workorders?state=all")).text


async def test_commands_from_the_device_page(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    profile = (await api.call("GET", f"/device-profiles/{acme.profile_id}", admin)).json()
    body = {"name": profile["name"], "keys": profile["keys"], "methods": METHODS}
    updated = await api.call("PUT", f"/device-profiles/{acme.profile_id}", admin, json=body)
    assert updated.status_code == 200, updated.text
    technician = await console_login(api, "acme-technician")
    page = await technician.get(f"/console/devices/{acme.device_id}")
    assert 'data-method="set_pressure_setpoint"' in page.text and 'max="8.0"' in page.text
    token = csrf_of(page.text)
    url = f"/console/devices/{acme.device_id}/commands"
    too_high = await technician.post(
        url, data={"csrf_token": token, "method": "set_pressure_setpoint", "p.setpoint_bar": "9.5"}
    )
    assert too_high.status_code == 400 and "setpoint_bar" in too_high.text
    assert api.services.commands.list(PLATFORM_ADMIN, device_id=acme.device_id) == []
    sent = await technician.post(
        url, data={"csrf_token": token, "method": "set_pressure_setpoint", "p.setpoint_bar": "6.5"}
    )
    assert sent.status_code == 303
    stop = await technician.post(url, data={"csrf_token": token, "method": "stop"})
    assert stop.status_code == 303
    commands = {c.method: c for c in api.services.commands.list(PLATFORM_ADMIN, device_id=acme.device_id)}
    assert commands["set_pressure_setpoint"].params == {"setpoint_bar": 6.5}
    assert commands["set_pressure_setpoint"].state is CommandState.QUEUED  # the device is offline
    assert commands["stop"].state is CommandState.AWAITING_CONFIRMATION
    page = await technician.get(f"/console/devices/{acme.device_id}")
    assert "Confirm" not in page.text.split('id="commands"')[1].split("</section>")[0]  # not the requester's
    operator = await console_login(api, "acme-operator")
    page = await operator.get(f"/console/devices/{acme.device_id}")
    confirmed = await operator.post(
        f"/console/commands/{commands['stop'].id}/confirm", data={"csrf_token": csrf_of(page.text)}
    )
    assert confirmed.status_code == 303
    stop_now = api.services.commands.get(PLATFORM_ADMIN, commands["stop"].id)
    assert stop_now.state is CommandState.QUEUED and stop_now.confirmed_by == "acme-operator"


async def test_sharing_grant_given_seen_by_the_partner_and_revoked(api: Api) -> None:
    acme = await populate(api, "acme")
    maker = await populate(api, "maker")
    admin = await console_login(api, "acme-tenant-admin")
    page = await admin.get("/console/sharing")
    assert "Share devices with a partner" in page.text and "Nothing is shared." in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "grantee_tenant_id": maker.tenant_id, "days": "30", "keys": "*"}
    unknown = await admin.post("/console/sharing", data={**form, "devices": "no-such-device"})
    assert unknown.status_code == 400 and "no device named" in unknown.text
    granted = await admin.post(
        "/console/sharing", data={**form, "devices": "acme-ac-1", "permissions": ["telemetry", "alarms"]}
    )
    assert granted.status_code == 303
    page = await admin.get("/console/sharing")
    assert "acme-ac-1" in page.text and "Revoke" in page.text
    partner = await console_login(api, "maker-viewer")
    seen = await partner.get("/console/sharing")
    assert acme.tenant_id in seen.text and "Share devices with a partner" not in seen.text
    grant_id = re.search(r'data-grant="([\w-]+)"', page.text)
    assert grant_id
    revoked = await admin.post(f"/console/sharing/{grant_id.group(1)}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert "No partner shares devices with you." in (await partner.get("/console/sharing")).text


async def test_chinese_remote_om_pages(api: Api) -> None:
    await populate(api, "acme")
    operator = await console_login(api, "acme-operator")
    operator.cookies.set("openiiot_lang", "zh-CN")
    page = await operator.get("/console/workorders")
    assert "平均修复时间" in page.text and "新建工单" in page.text
    assert "数据共享" in (await operator.get("/console/sharing")).text
