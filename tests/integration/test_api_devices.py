"""Device workflows over HTTP: bulk CSV, credential rotation, attributes, telemetry queries, their errors."""

from __future__ import annotations

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)
from tests.unit.management_fixtures import NOW_MS

from openiiot.domain.credentials import token_matches
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.provisioning import MAX_FILE_BYTES

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def _stored_hash(api: Api, device_id: str) -> str:
    with api.uow() as uow:
        return uow.devices.get(None, device_id).token_hash


async def _upload(api: Api, headers: dict[str, str], data: bytes) -> object:
    return await api.client.post(
        "/api/v1/devices/bulk", headers=headers, files={"file": ("devices.csv", data, "text/csv")}
    )


async def test_bulk_csv_creates_good_rows_and_reports_bad_ones(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    data = (
        "\ufeffname,profile,label,asset\r\n"  # Excel's byte-order mark and line ends
        "ac-2,air compressor,north hall,compressor station\r\n"
        f"ac-3,{t.profile_id},,\r\n"
        ",air compressor,,\r\n"
        "ac-4,unknown profile,,\r\n"
        "acme-ac-1,air compressor,,\r\n"
        "ac-2,air compressor,,\r\n"
        "空压机-5,air compressor,中文标签,\r\n"
    ).encode() + b"bad-\xc3\x28,air compressor,,\r\n"
    response = await _upload(api, admin, data)
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(c["row"], c["name"]) for c in report["created"]] == [(2, "ac-2"), (3, "ac-3"), (8, "空压机-5")]
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (4, "name"),
        (5, "profile"),
        (6, "name"),
        (7, "name"),
        (9, "name"),
    ]
    reasons = [e["reason"] for e in report["errors"]]
    assert "missing name" in reasons[0] and "unknown profile" in reasons[1] and "duplicate" in reasons[2]
    assert "UTF-8" in reasons[4]
    for row in report["created"]:
        assert token_matches(row["access_token"], _stored_hash(api, row["device_id"]))
    listed = (await api.call("GET", "/devices", admin, params={"search": "ac-2"})).json()["items"]
    assert listed[0]["label"] == "north hall" and listed[0]["asset_id"] == t.asset_id
    assert (await api.call("GET", "/devices", admin)).json()["total"] == 4


async def test_bulk_csv_file_level_faults_name_the_file(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    assert_problem(await _upload(api, admin, b"name,label\nx,y\n"), 422, "profile")
    assert_problem(await _upload(api, admin, b"name,profile\n" + b"x" * MAX_FILE_BYTES), 422, "file")
    assert_problem(await _upload(api, admin, b"name,profile\n" + b"d,p\n" * 10_001), 422, "file")
    missing = await api.client.post("/api/v1/devices/bulk", headers=admin)
    assert_problem(missing, 422, "file")
    assert (await api.call("GET", "/devices", admin)).json()["total"] == 1
    viewer = await _upload(api, t.headers[Role.VIEWER], b"name,profile\nx,air compressor\n")
    assert_problem(viewer, 403)


async def test_rotation_replaces_the_token(api: Api) -> None:
    t = await populate(api, "acme")
    assert token_matches(t.device_token, _stored_hash(api, t.device_id))
    response = await api.call(
        "POST", f"/devices/{t.device_id}/credentials/rotate", t.headers[Role.TENANT_ADMIN]
    )
    assert response.status_code == 200
    new_token = response.json()["access_token"]
    stored = _stored_hash(api, t.device_id)
    assert token_matches(new_token, stored) and not token_matches(t.device_token, stored)
    again = await api.call("POST", f"/devices/{t.device_id}/credentials/rotate", t.headers[Role.TENANT_ADMIN])
    assert (
        not token_matches(new_token, _stored_hash(api, t.device_id))
        and again.json()["access_token"] != new_token
    )


async def test_create_returns_the_token_once(api: Api) -> None:
    t = await populate(api, "acme")
    admin = t.headers[Role.TENANT_ADMIN]
    created = await api.create("/devices", {"name": "ac-9", "profile_id": t.profile_id}, admin)
    assert set(created) == {"device", "access_token"} and len(created["access_token"]) >= 43
    fetched = await api.call("GET", f"/devices/{created['device']['id']}", admin)
    assert created["access_token"] not in fetched.text


async def test_attributes_by_scope(api: Api) -> None:
    t = await populate(api, "acme")
    tech = t.headers[Role.TECHNICIAN]
    path = f"/devices/{t.device_id}/attributes"
    shared = await api.call("PUT", f"{path}/shared", tech, {"setpoint_bar": 7.5, "mode": {"auto": True}})
    assert shared.status_code == 200
    assert api.shared_pushes == [(t.device_id, {"setpoint_bar": 7.5, "mode": {"auto": True}})]
    await api.call("PUT", f"{path}/server", tech, {"room": "B2"})
    got = (await api.call("GET", f"{path}/shared", t.headers[Role.VIEWER])).json()
    assert got["scope"] == "shared"
    assert [(a["key"], a["value"], a["updated_ms"]) for a in got["attributes"]] == [
        ("mode", {"auto": True}, NOW_MS),
        ("setpoint_bar", 7.5, NOW_MS),
    ]
    assert [a["key"] for a in (await api.call("GET", f"{path}/server", tech)).json()["attributes"]] == [
        "room"
    ]
    assert_problem(await api.call("PUT", f"{path}/client", tech, {"fw": "1.0"}), 422, "scope")
    assert_problem(await api.call("GET", f"{path}/secret", tech), 422, "scope")
    assert_problem(await api.call("PUT", f"{path}/server", tech, ["not", "an", "object"]), 422)
    assert (await api.call("DELETE", f"{path}/server/room", tech)).status_code == 204
    assert (await api.call("GET", f"{path}/server", tech)).json()["attributes"] == []


def _seed(api: Api, device_id: str) -> int:
    start_ms = (NOW_MS // HOUR_MS - 2) * HOUR_MS  # on an hour boundary, so hourly buckets hold 6 points each
    batch = TelemetryBatch()
    for i in range(12):  # every 10 minutes for two hours
        ts = start_ms + i * 600_000
        batch.add(device_id, "pressure_bar", ts, 6.0 + i * 0.1)
        batch.add(device_id, "energy_kwh", ts, 1000.0 + 5 * i)
    batch.add(device_id, "firmware", NOW_MS - 1, None, "v2.1.0")
    api.telemetry.append(batch)
    return start_ms


async def test_latest_values(api: Api) -> None:
    t = await populate(api, "acme")
    _seed(api, t.device_id)
    response = await api.call("GET", f"/devices/{t.device_id}/telemetry/latest", t.headers[Role.VIEWER])
    body = response.json()
    assert body["device_id"] == t.device_id
    assert body["values"]["firmware"] == {"ts": NOW_MS - 1, "value": "v2.1.0"}
    assert body["values"]["pressure_bar"]["value"] == pytest.approx(7.1)
    only = await api.call(
        "GET",
        f"/devices/{t.device_id}/telemetry/latest",
        t.headers[Role.VIEWER],
        params={"keys": "energy_kwh"},
    )
    assert set(only.json()["values"]) == {"energy_kwh"}


async def test_raw_telemetry_is_paged(api: Api) -> None:
    t = await populate(api, "acme")
    start_ms = _seed(api, t.device_id)
    params = {"keys": "pressure_bar", "start": str(start_ms), "end": str(NOW_MS), "limit": 5}
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        page = await api.call(
            "GET",
            f"/devices/{t.device_id}/telemetry",
            t.headers[Role.VIEWER],
            params={**params, "cursor": cursor} if cursor else params,
        )
        body = page.json()
        seen += [p["ts"] for p in body["points"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [start_ms + i * 600_000 for i in range(12)]


async def test_aggregates_in_tenant_time(api: Api) -> None:
    t = await populate(api, "acme")
    start_ms = _seed(api, t.device_id)
    params = {
        "keys": "pressure_bar,energy_kwh",
        "start": str(start_ms),
        "end": str(NOW_MS),
        "interval": "1h",
        "agg": "min,max,count",
    }
    body = (
        await api.call("GET", f"/devices/{t.device_id}/telemetry", t.headers[Role.VIEWER], params=params)
    ).json()
    assert body["agg"] == ["min", "max", "count"] and body["interval"] == "1h"
    rows = body["series"]["pressure_bar"]
    assert [r["ts"] for r in rows] == [start_ms, start_ms + HOUR_MS]
    assert [r["count"] for r in rows] == [6, 6]
    assert rows[0]["min"] == pytest.approx(6.0) and rows[1]["max"] == pytest.approx(7.1)
    # ISO 8601 without an offset is the tenant's local time (Asia/Shanghai, UTC+8)
    day = {
        "keys": "pressure_bar",
        "interval": "1d",
        "start": "2025-06-15T00:00:00",
        "end": "2025-06-16T00:00:00",
    }
    daily = (
        await api.call("GET", f"/devices/{t.device_id}/telemetry", t.headers[Role.VIEWER], params=day)
    ).json()
    assert daily["series"]["pressure_bar"][0]["ts"] == 1_749_916_800_000  # 2025-06-14T16:00Z
    assert daily["series"]["pressure_bar"][0]["count"] == 12


async def test_consumption_of_a_counter(api: Api) -> None:
    t = await populate(api, "acme")
    start_ms = _seed(api, t.device_id)
    params = {"key": "energy_kwh", "start": str(start_ms), "end": str(NOW_MS), "interval": "1h"}
    body = (
        await api.call("GET", f"/devices/{t.device_id}/consumption", t.headers[Role.VIEWER], params=params)
    ).json()
    assert body["key"] == "energy_kwh" and sum(r["delta"] for r in body["rows"]) == pytest.approx(55.0)
    wrong = await api.call(
        "GET",
        f"/devices/{t.device_id}/consumption",
        t.headers[Role.VIEWER],
        params={**params, "key": "pressure_bar"},
    )
    assert_problem(wrong, 422, "key")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"keys": "pressure_bar", "interval": "7x"}, "interval"),
        ({"keys": "pressure_bar", "interval": "1h", "agg": "avg,median"}, "agg"),
        ({"keys": "pressure_bar", "start": "1750000000000", "end": "1740000000000"}, "end"),
        ({"keys": "pressure_bar", "start": "last tuesday"}, "start"),
        ({"keys": "pressure_bar", "limit": "0"}, "limit"),
        ({"keys": "pressure_bar", "limit": "many"}, "limit"),
        ({"keys": "pressure bar"}, "keys"),
        ({"interval": "1h"}, "keys"),
        ({"keys": "pressure_bar", "cursor": "%%%"}, "cursor"),
    ],
)
async def test_bad_telemetry_queries_name_the_field(api: Api, params: dict[str, str], field: str) -> None:
    t = await populate(api, "acme")
    response = await api.call(
        "GET", f"/devices/{t.device_id}/telemetry", t.headers[Role.VIEWER], params=params
    )
    assert_problem(response, 422, field)


async def test_bad_consumption_query_names_the_field(api: Api) -> None:
    t = await populate(api, "acme")
    missing = await api.call("GET", f"/devices/{t.device_id}/consumption", t.headers[Role.VIEWER])
    assert_problem(missing, 422, "key")
    bad = await api.call(
        "GET",
        f"/devices/{t.device_id}/consumption",
        t.headers[Role.VIEWER],
        params={"key": "energy_kwh", "interval": "2mo"},
    )
    assert_problem(bad, 422, "interval")


async def test_devices_filtered_by_connectivity_status(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    silent = await api.create("/devices", {"name": "acme-ac-2", "profile_id": acme.profile_id}, admin)
    api.services.connectivity.activity({acme.device_id: api.clock.now})
    active = await api.call("GET", "/devices?status=active", admin)
    assert [d["id"] for d in active.json()["items"]] == [acme.device_id] and active.json()["total"] == 1
    never = await api.call("GET", "/devices?status=never-seen", admin)
    assert [d["id"] for d in never.json()["items"]] == [silent["device"]["id"]]
    assert_problem(await api.call("GET", "/devices?status=asleep", admin), 422)
