"""The audit log through the API: who did what, when, from where, to which object; searchable and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.domain.model import Role

pytestmark = pytest.mark.integration


async def test_credential_changes_are_recorded_with_actor_time_and_source(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    api.clock.now += 5_000
    rotated = await api.call("POST", f"/devices/{acme.device_id}/credentials/rotate", admin)
    assert rotated.status_code == 200, rotated.text

    response = await api.call("GET", f"/audit?object_id={acme.device_id}", admin)
    assert response.status_code == 200, response.text
    entries = response.json()["items"]
    assert [e["action"] for e in entries] == ["device.rotate_credentials", "device.create"]
    newest = entries[0]
    assert newest["actor_id"] == acme.user_ids[Role.TENANT_ADMIN]
    assert newest["actor_name"] == "acme-tenant-admin"
    assert newest["tenant_id"] == acme.tenant_id
    assert newest["source_ip"] == "127.0.0.1"
    assert newest["ts_ms"] == api.clock.now_ms()
    assert "token" not in json.dumps(newest["details"])  # the new secret never reaches the log


async def test_filters_by_action_prefix_actor_and_time(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    start = api.clock.now_ms()
    api.clock.now += 60_000
    await api.call("PUT", f"/devices/{acme.device_id}", admin, json={"label": "north hall"})
    api.clock.now += 1_000
    await api.call("DELETE", f"/api-keys/{acme.api_key_id}", admin)

    devices = (await api.call("GET", "/audit?action=device.", admin)).json()["items"]
    assert {e["action"] for e in devices} == {"device.create", "device.update"}
    later = (await api.call("GET", f"/audit?from_ms={start + 1}", admin)).json()["items"]
    assert [e["action"] for e in later] == ["api_key.revoke", "device.update"]
    assert later[1]["details"] == {"label": "north hall"}
    mine = (await api.call("GET", f"/audit?actor_id={acme.user_ids[Role.TENANT_ADMIN]}", admin)).json()
    assert {e["actor_id"] for e in mine["items"]} == {acme.user_ids[Role.TENANT_ADMIN]}


async def test_each_tenant_sees_only_its_own_entries_and_viewers_none(api: Api) -> None:
    acme = await populate(api, "acme")
    beta = await populate(api, "beta")
    await api.call("POST", f"/devices/{acme.device_id}/credentials/rotate", acme.headers[Role.TENANT_ADMIN])

    seen_by_beta = (await api.call("GET", "/audit?limit=1000", beta.headers[Role.TENANT_ADMIN])).json()
    assert seen_by_beta["items"], "beta's own actions are in its log"
    assert {e["tenant_id"] for e in seen_by_beta["items"]} == {beta.tenant_id}
    assert acme.device_id not in {e["object_id"] for e in seen_by_beta["items"]}
    assert_problem(await api.call("GET", "/audit", acme.headers[Role.VIEWER]), 403)
    everything = (await api.call("GET", "/audit?limit=1000", api.admin_headers)).json()["items"]
    assert {acme.tenant_id, beta.tenant_id} <= {e["tenant_id"] for e in everything}


async def test_csv_export_has_a_header_and_one_row_per_entry(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    api.clock.now += 1_000
    await api.call("PUT", f"/devices/{acme.device_id}", admin, json={"label": "冷干机旁"})
    listed = (await api.call("GET", "/audit?limit=1000", admin)).json()["items"]

    response = await api.call("GET", "/audit.csv", admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert [r["action"] for r in rows] == [e["action"] for e in listed]
    assert json.loads(rows[0]["details"]) == {"label": "冷干机旁"}
    assert rows[0]["time_utc"].endswith("+00:00")
    assert_problem(await api.call("GET", "/audit.csv", acme.headers[Role.VIEWER]), 403)


async def test_bad_filters_get_a_clear_error(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    assert_problem(await api.call("GET", "/audit?from_ms=200&to_ms=100", admin), 422, "to")
    assert_problem(await api.call("GET", "/audit?limit=0", admin), 422)
