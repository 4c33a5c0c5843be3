"""The console's energy page: station KPIs, cost and carbon computed from stored compressor telemetry."""

from __future__ import annotations

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    populate,
)
from tests.integration.console_fixtures import console_login

from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch

pytestmark = pytest.mark.integration

COMPRESSOR = {
    "name": "station compressor",
    "keys": [
        {"key": "power_kw", "unit": "kW"},
        {"key": "state", "kind": "state"},
        {"key": "flow_m3_min", "unit": "m³/min"},
        {"key": "discharge_pressure_bar", "unit": "bar"},
    ],
}
HEADER = {"name": "header meter", "keys": [{"key": "pressure_bar", "unit": "bar"}]}


async def test_station_kpis_from_stored_telemetry(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    api.app.state.console_clock = api.clock
    station = await api.create("/assets", {"name": "Air station 1", "site_id": acme.site_id}, admin)
    compressor = await api.create("/device-profiles", COMPRESSOR, admin)
    header = await api.create("/device-profiles", HEADER, admin)
    units = [
        (
            await api.create(
                "/devices", {"name": n, "profile_id": compressor["id"], "asset_id": station["id"]}, admin
            )
        )["device"]["id"]
        for n in ("C1", "C2")
    ]
    meter = (
        await api.create(
            "/devices", {"name": "PT-1", "profile_id": header["id"], "asset_id": station["id"]}, admin
        )
    )["device"]["id"]
    # C1: loaded 2 h at 90 kW delivering 15 m³/min, then unloaded 1 h at 30 kW; C2 stays off
    start = api.clock.now - 4 * 3_600_000
    start -= start % 60_000
    batch = TelemetryBatch()
    for minute in range(180):
        ts = start + minute * 60_000
        loaded = minute < 120
        batch.add(units[0], "power_kw", ts, 90.0 if loaded else 30.0)
        batch.add(units[0], "state", ts, 2.0 if loaded else 1.0)
        batch.add(units[0], "flow_m3_min", ts, 15.0 if loaded else 0.0)
        batch.add(units[0], "discharge_pressure_bar", ts, 7.2)
        batch.add(units[1], "state", ts, 0.0)
        batch.add(units[1], "power_kw", ts, 0.0)
        batch.add(meter, "pressure_bar", ts, 6.9 + 0.2 * (minute % 2))
    # after the 3 h both compressors stop reporting as off
    for unit in units:
        batch.add(unit, "state", start + 180 * 60_000, 0.0)
        batch.add(unit, "power_kw", start + 180 * 60_000, 0.0)
    api.telemetry.append(batch)

    viewer = await console_login(api, "acme-viewer")
    page = await viewer.get("/console/energy")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Air station 1" in text
    assert "210 kWh" in text  # 2 h x 90 kW + 1 h x 30 kW
    assert "1,800 m³" in text  # 120 min x 15 m³/min
    assert "30 kWh" in text  # energy used running unloaded
    assert ">7.00<" in text  # station specific power: 210 kWh / 30 (m³/min)·h
    row = text.split('id="compressors"')[1].split("</table>")[0]
    assert "<td>C1</td><td>2.0</td><td>1.0</td>" in row
    assert "kWh" in text.split('id="cost"')[1]
    chinese = await viewer.get("/console/energy", headers={"Accept-Language": "zh-CN"})
    assert "能源" in chinese.text


async def test_no_station_says_how_to_get_one(api: Api) -> None:
    await populate(api, "acme")
    viewer = await console_login(api, "acme-viewer")
    page = await viewer.get("/console/energy")
    assert page.status_code == 200 and "No compressed-air station yet" in page.text
    assert (await viewer.get("/console/energy?asset=nope")).status_code == 200


async def test_condition_page_lists_monitored_machines_worst_first(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    robots = [
        (await api.create("/devices", {"name": n, "profile_id": acme.profile_id}, admin))["device"]["id"]
        for n in ("robot-healthy", "robot-worn")
    ]
    batch = TelemetryBatch()
    now = api.clock.now
    for device_id, health, rul, score in ((robots[0], 0.95, 8000.0, 0.2), (robots[1], 0.31, 120.0, 2.4)):
        batch.add(device_id, "cm.health_index", now - 60_000, health)
        batch.add(device_id, "cm.rul_h", now - 60_000, rul)
        batch.add(device_id, "cm.anomaly_score", now - 60_000, score)
    api.telemetry.append(batch)
    viewer = await console_login(api, "acme-viewer")
    page = await viewer.get("/console/condition")
    assert page.status_code == 200, page.text
    table = page.text.split('id="machines"')[1]
    assert table.index("robot-worn") < table.index("robot-healthy")  # worst health first
    assert "120 h" in table and "0.31" in table
    counts = page.text.split('id="condition-counts"')[1].split("</section>")[0]
    assert ">2<" in counts and counts.count(">1<") == 2  # monitored, anomalous now, health below 0.4
    other = await populate(api, "globex")
    assert (
        "robot-worn" not in (await (await console_login(api, "globex-viewer")).get("/console/condition")).text
    )
    assert other.tenant_id
