"""The web console over HTTP: sign-in, sessions, CSRF, roles, tenant isolation, error pages, pages' data."""

from __future__ import annotations

import json

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    populate,
)
from tests.integration.console_fixtures import console_login, csrf_of, raise_alarm
from tests.unit.management_fixtures import PLATFORM_ADMIN

from openiiot.domain.model import Principal, Role
from openiiot.domain.telemetry import TelemetryBatch

pytestmark = pytest.mark.integration


def _points(device_id: str, key: str, samples: list[tuple[int, float]]) -> TelemetryBatch:
    batch = TelemetryBatch()
    for ts, value in samples:
        batch.add(device_id, key, ts, value)
    return batch


async def test_pages_need_a_session_and_sign_in_leads_back(api: Api) -> None:
    response = await api.client.get("/console/alarms?state=all")
    assert response.status_code == 303
    assert response.headers["location"].startswith(
        "/console/login?reason=signed-out&next=%2Fconsole%2Falarms"
    )
    login = await api.client.get(response.headers["location"])
    assert "Please sign in to continue." in login.text
    token = api.client.cookies.get("openiiot_login_csrf")
    wrong = await api.client.post(
        "/console/login", data={"username": "admin", "password": "nope-nope", "csrf_token": token}
    )
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    assert "openiiot_session" not in api.client.cookies


async def test_login_without_its_csrf_cookie_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/console/login", data={"username": "admin", "password": "platform-admin-password", "csrf_token": "x"}
    )
    assert response.status_code == 403
    assert "The form had expired" in response.text
    assert "openiiot_session" not in api.client.cookies


async def test_next_never_leaves_the_console(api: Api) -> None:
    await api.client.get("/console/login")
    token = api.client.cookies.get("openiiot_login_csrf")
    response = await api.client.post(
        "/console/login",
        data={
            "username": "admin",
            "password": "platform-admin-password",
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/console/fleet"


async def test_session_cookie_is_httponly_and_expires(api: Api) -> None:
    await api.client.get("/console/login")
    token = api.client.cookies.get("openiiot_login_csrf")
    response = await api.client.post(
        "/console/login",
        data={"username": "admin", "password": "platform-admin-password", "csrf_token": token},
    )
    cookie = response.headers["set-cookie"].lower()
    assert "openiiot_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "max-age=900" in cookie


async def test_expired_session_goes_back_to_sign_in_with_a_note(api: Api) -> None:
    acme = await populate(api, "acme")
    client = await console_login(api, "acme-operator")
    assert (await client.get("/console/fleet")).status_code == 200
    api.clock.now += 901_000  # past the 900 s token lifetime
    response = await client.get(f"/console/devices/{acme.device_id}")
    assert response.status_code == 303
    assert "reason=expired" in response.headers["location"]
    page = await client.get(response.headers["location"])
    assert "Your session has expired" in page.text
    client.cookies.set("openiiot_session", "not-a-token")
    htmx = await client.get("/console/fleet", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and "/console/login" in htmx.headers["HX-Redirect"]


async def test_fleet_lists_only_the_tenants_devices_with_counts(api: Api) -> None:
    acme = await populate(api, "acme")
    await populate(api, "globex")
    api.telemetry.append(_points(acme.device_id, "pressure_bar", [(api.clock.now - 1000, 7.0)]))
    services = api.services
    services.connectivity.activity({acme.device_id: api.clock.now - 1000})
    client = await console_login(api, "acme-viewer")
    page = await client.get("/console/fleet")
    assert page.status_code == 200
    assert "acme-ac-1" in page.text and "globex-ac-1" not in page.text
    assert "1 devices" in page.text
    summary = await client.get("/console/fleet/summary")
    assert 'id="count-connected">1<' in summary.text
    assert "globex" not in summary.text
    admin = await console_login(api, "admin", "platform-admin-password")
    both = await admin.get("/console/fleet")
    assert "acme-ac-1" in both.text and "globex-ac-1" in both.text
    by_tenant = await admin.get("/console/fleet/summary")
    assert "acme" in by_tenant.text and "globex" in by_tenant.text


async def test_fleet_search_filter_and_paging(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    for i in range(30):
        await api.create("/devices", {"name": f"pump-{i:02d}", "profile_id": acme.profile_id}, admin)
    client = await console_login(api, "acme-viewer")
    first = await client.get("/console/fleet?q=pump&size=25")
    assert "30 devices" in first.text and "pump-00" in first.text and "pump-25" not in first.text
    assert "Page 1 of 2" in first.text
    second = await client.get("/console/fleet?q=pump&size=25&page=2", headers={"HX-Target": "device-table"})
    assert "pump-25" in second.text and "pump-00" not in second.text
    assert "<html" not in second.text  # htmx gets only the table
    inactive = await client.get("/console/fleet?status=never-seen&q=pump-0")
    assert "10 devices" in inactive.text


async def test_broken_query_strings_and_unknown_objects_get_clear_pages(api: Api) -> None:
    acme = await populate(api, "acme")
    globex = await populate(api, "globex")
    client = await console_login(api, "acme-operator")
    for path, status in [
        ("/console/fleet?page=abc", 400),
        ("/console/fleet?size=100000", 400),
        ("/console/fleet?status=bogus", 400),
        ("/console/alarms?severity=%00", 400),
        ("/console/devices/does-not-exist", 404),
        (f"/console/devices/{globex.device_id}", 404),  # another tenant's device reads as absent
        (f"/console/devices/{acme.device_id}/history?key=pressure_bar&range=99y", 400),
        (f"/console/devices/{acme.device_id}/history?key=pressure_bar&start=x", 400),
        ("/console/no/such/page", 404),
    ]:
        response = await client.get(path)
        assert response.status_code == status, (path, response.text[:500])
        assert "Traceback" not in response.text and "text/html" in response.headers["content-type"]
        assert "Back to the fleet" in response.text
    other = await client.get(f"/console/devices/{globex.device_id}")
    assert "globex-ac-1" not in other.text


async def test_device_page_shows_values_units_history_and_live_events(api: Api) -> None:
    acme = await populate(api, "acme")
    now = api.clock.now
    samples = [(now - 3_600_000 + i * 1000, float(i % 100)) for i in range(3600)]
    api.telemetry.append(_points(acme.device_id, "pressure_bar", samples))
    client = await console_login(api, "acme-viewer")
    page = await client.get(f"/console/devices/{acme.device_id}")
    assert page.status_code == 200
    assert "pressure_bar" in page.text and "99.00 bar" in page.text
    history = await client.get(
        f"/console/devices/{acme.device_id}/history?key=pressure_bar&start={now - 3_600_000}&end={now}"
    )
    body = history.json()
    assert body["bucket_s"] == 5 and 0 < len(body["points"]) <= 2000
    assert min(p[1] for p in body["points"]) == 0.0 and max(p[1] for p in body["points"]) == 99.0
    async with client.stream("GET", f"/console/devices/{acme.device_id}/live?once=1") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join([chunk async for chunk in stream.aiter_text()])
    event = next(line for line in text.splitlines() if line.startswith("data: "))
    assert json.loads(event[6:])["pressure_bar"]["value"] == 99.0


async def test_viewer_is_not_offered_alarm_actions_and_cannot_post_them(api: Api) -> None:
    acme = await populate(api, "acme")
    alarm_id = await raise_alarm(api, acme)
    viewer = await console_login(api, "acme-viewer")
    page = await viewer.get("/console/alarms")
    assert "high pressure" in page.text and "Acknowledge" not in page.text
    response = await viewer.post(
        f"/console/alarms/{alarm_id}/acknowledge", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 403 and "Your role does not allow this." in response.text


async def test_operator_acknowledges_and_comments_with_csrf(api: Api) -> None:
    acme = await populate(api, "acme")
    alarm_id = await raise_alarm(api, acme)
    api.app.state.console_clock = api.clock  # shelving times are counted on the platform's clock
    operator = await console_login(api, "acme-operator")
    page = await operator.get("/console/alarms")
    assert "Acknowledge" in page.text
    forged = await operator.post(f"/console/alarms/{alarm_id}/acknowledge", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403 and "security token" in forged.text
    assert not api.services.alarms.get_alarm(_admin(api), alarm_id).acknowledged
    token = csrf_of(page.text)
    done = await operator.post(
        f"/console/alarms/{alarm_id}/acknowledge", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200 and "active, acknowledged" in done.text
    await operator.post(
        f"/console/alarms/{alarm_id}/comment", data={"csrf_token": token, "comment": "valve checked"}
    )
    alarm = api.services.alarms.get_alarm(_admin(api), alarm_id)
    assert alarm.acknowledged and alarm.history[-1].comment == "valve checked"
    shelved = await operator.post(
        f"/console/alarms/{alarm_id}/shelve", data={"csrf_token": token, "hours": "8"}
    )
    assert shelved.status_code == 303
    assert (
        api.services.alarms.get_alarm(_admin(api), alarm_id).shelved_until_ms == api.clock.now + 8 * 3_600_000
    )


async def test_chinese_by_browser_and_by_switcher(api: Api) -> None:
    await populate(api, "acme")
    client = await console_login(api, "acme-operator")
    chinese = await client.get("/console/fleet", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert 'lang="zh-CN"' in chinese.text and "设备总览" in chinese.text and "Fleet<" not in chinese.text
    page = await client.get("/console/fleet")
    assert 'lang="en"' in page.text
    switched = await client.post(
        "/console/language",
        data={"csrf_token": csrf_of(page.text), "language": "zh-CN", "next": "/console/alarms"},
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/console/alarms"
    alarms = await client.get("/console/alarms")
    assert "告警" in alarms.text and "近 7 天告警数" in alarms.text
    # the choice is stored on the user too: a new browser gets Chinese without the cookie
    fresh = await console_login(api, "acme-operator")
    fresh.cookies.delete("openiiot_lang")
    assert 'lang="zh-CN"' in (await fresh.get("/console/fleet")).text


def _admin(api: Api) -> Principal:
    return PLATFORM_ADMIN
