"""Work orders through the API: the state machine, checklist, comments, parts, attachments, SLA and KPIs,
roles and tenants."""

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
HOUR = 3_600_000


async def test_a_work_order_walks_its_states_and_forbidden_steps_are_refused(api: Api) -> None:
    acme = await populate(api, "acme")
    tech, op = acme.headers[Role.TECHNICIAN], acme.headers[Role.OPERATOR]
    order = await api.create(
        "/work-orders",
        {
            "title": "Replace inlet filter",
            "priority": "urgent",
            "device_id": acme.device_id,
            "checklist": ["isolate"],
        },
        tech,
    )
    assert order["asset_id"] == acme.asset_id  # taken from the device
    assert order["respond_due_ms"] - order["created_ms"] == 1 * HOUR
    assert order["resolve_due_ms"] - order["created_ms"] == 4 * HOUR
    url = f"/work-orders/{order['id']}"
    assert_problem(await api.call("POST", f"{url}/resolve", tech), 409)  # open -> resolved is not a step
    assert_problem(await api.call("POST", f"{url}/assign", tech, json={"assignee": "acme-technician"}), 403)
    assert_problem(await api.call("POST", f"{url}/assign", op, json={"assignee": "nobody"}), 422, "assignee")
    api.clock.now += 30 * 60_000
    tech, op = await api.login("acme-technician"), await api.login("acme-operator")  # tokens last 15 min
    assigned = await api.call("POST", f"{url}/assign", op, json={"assignee": "acme-technician"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["responded_ms"] == api.clock.now
    await api.call("POST", f"{url}/start", tech)
    assert_problem(await api.call("POST", f"{url}/hold", tech, json={"note": ""}), 422, "reason")
    await api.call("POST", f"{url}/hold", tech, json={"note": "waiting for the filter"})
    await api.call("POST", f"{url}/start", tech)
    await api.call("PUT", f"{url}/checklist/0", tech, json={"done": True})
    assert_problem(await api.call("PUT", f"{url}/checklist/5", tech, json={"done": True}), 422, "index")
    await api.call("POST", f"{url}/comments", tech, json={"text": "old filter clogged"})
    await api.call(
        "POST", f"{url}/parts", tech, json={"part_no": "AF-1120", "description": "air filter", "quantity": 1}
    )
    api.clock.now += HOUR
    tech, op = await api.login("acme-technician"), await api.login("acme-operator")
    await api.call("POST", f"{url}/resolve", tech, json={"note": "filter replaced"})
    assert_problem(await api.call("POST", f"{url}/verify", tech), 403)  # technicians do not verify
    verified = await api.call("POST", f"{url}/verify", op, json={"note": "pressure drop normal"})
    assert verified.json()["state"] == "verified"
    assert_problem(await api.call("POST", f"{url}/cancel", op, json={"note": "x"}), 409)
    closed = (await api.call("POST", f"{url}/close", op)).json()
    assert closed["state"] == "closed"
    assert [s["state"] for s in closed["history"]] == [
        "open", "assigned", "in_progress", "on_hold", "in_progress", "resolved", "verified", "closed",
    ]  # fmt: skip
    assert closed["checklist"][0]["done_by"] == "acme-technician"
    assert (
        closed["parts"][0]["part_no"] == "AF-1120" and closed["comments"][0]["text"] == "old filter clogged"
    )
    assert_problem(await api.call("POST", f"{url}/comments", tech, json={"text": "late"}), 409)
    assert_problem(await api.call("POST", f"{url}/fly", op), 422, "action")

    kpis = (await api.call("GET", f"/work-orders/kpis?from_ms=0&to_ms={api.clock.now + 1}", op)).json()
    assert kpis["work_orders"] == 1 and kpis["mtta_s"] == 1800.0 and kpis["mttr_s"] == 5400.0
    assert (kpis["sla_respond_compliance"], kpis["sla_resolve_compliance"]) == (1.0, 1.0)
    assert kpis["failures"] == 0 and kpis["mtbf_s"] is None  # not opened from an alarm: not a failure


async def test_attachments_are_stored_checked_and_served(api: Api) -> None:
    acme = await populate(api, "acme")
    tech = acme.headers[Role.TECHNICIAN]
    order = await api.create("/work-orders", {"title": "Inspect coupling"}, tech)
    url = f"/work-orders/{order['id']}/attachments"
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000
    r = await api.call("POST", url, tech, files={"file": ("coupling.png", photo, "image/png")})
    assert r.status_code == 200, r.text
    [meta] = r.json()["attachments"]
    assert (meta["filename"], meta["size_bytes"], meta["content_type"]) == (
        "coupling.png",
        len(photo),
        "image/png",
    )
    got = await api.call("GET", f"{url}/{meta['id']}", acme.headers[Role.VIEWER])
    assert got.content == photo and got.headers["content-type"] == "image/png"
    exe = await api.call(
        "POST", url, tech, files={"file": ("tool.exe", b"MZ....", "application/x-msdownload")}
    )
    assert_problem(exe, 422, "file")
    big = await api.call(
        "POST",
        url,
        tech,
        files={"file": ("scan.pdf", b"%PDF" + b"0" * (10 * 1024 * 1024), "application/pdf")},
    )
    assert_problem(big, 422, "file")
    assert len((await api.call("GET", f"/work-orders/{order['id']}", tech)).json()["attachments"]) == 1


async def test_other_tenants_see_nothing_and_viewers_cannot_change(api: Api) -> None:
    acme = await populate(api, "acme")
    beta = await populate(api, "beta")
    order = await api.create("/work-orders", {"title": "Acme job"}, acme.headers[Role.TECHNICIAN])
    other = beta.headers[Role.TENANT_ADMIN]
    assert_problem(await api.call("GET", f"/work-orders/{order['id']}", other), 404)
    assert_problem(await api.call("POST", f"/work-orders/{order['id']}/start", other), 404)
    assert (await api.call("GET", "/work-orders", other)).json()["items"] == []
    assert_problem(
        await api.call("POST", "/work-orders", acme.headers[Role.VIEWER], json={"title": "x"}), 403
    )
    assert_problem(
        await api.call("POST", "/work-orders", other, json={"title": "x", "device_id": acme.device_id}), 404
    )
    assert_problem(
        await api.call("POST", "/work-orders", other, json={"title": "x", "priority": "asap"}), 422
    )
