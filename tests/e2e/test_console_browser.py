"""The console in a real browser (Playwright driving the system Chromium) against a real HTTP server.

Signs in, opens the fleet, watches a live value change on a device page, acknowledges an alarm and
switches to Chinese, saving a screenshot of each main page under test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from tests.conftest import require_service
from tests.integration.api_fixtures import PlatformStandIn
from tests.unit.management_fixtures import PLATFORM_ADMIN, cheap_passwords

from openiiot.api.app import create_app
from openiiot.domain.alarms.lifecycle import Alarm
from openiiot.domain.alarms.rules import Severity
from openiiot.domain.model import Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.clock import SystemClock
from openiiot.services.management import build_services
from openiiot.sim.mqtt_pool import free_tcp_port
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("OPENIIOT_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "operator-password"
JWT = "browser-test-secret-0123456789abcdef-0123456789"


@dataclass
class Console:
    """A running console and the objects behind it."""

    url: str
    telemetry: MemoryTelemetryStore
    device_id: str
    alarm_id: str
    services: Any


def _populate(services: Any, uow: Any, telemetry: MemoryTelemetryStore) -> tuple[str, str]:
    admin = PLATFORM_ADMIN
    tenant = services.tenants.create(
        admin, {"name": "Acme Air", "timezone": "Asia/Shanghai", "region_code": "310115"}
    )
    services.users.create(admin, username="olga", password=PASSWORD, role=Role.OPERATOR, tenant_id=tenant.id)
    site = services.sites.create(admin, {"name": "Pudong plant"}, tenant_id=tenant.id)
    station = services.assets.create(
        admin,
        site_id=site.id,
        values={"name": "Compressor station", "asset_type": "station"},
        tenant_id=tenant.id,
    )
    profile = services.profiles.create(
        admin,
        {
            "name": "air compressor",
            "keys": [
                {"key": "pressure_bar", "unit": "bar", "precision": 2},
                {"key": "power_kw", "unit": "kW", "precision": 1},
            ],
            "inactivity_timeout_s": 60,
        },
        tenant_id=tenant.id,
    )
    device = services.devices.create(
        admin, {"name": "AC-01", "profile_id": profile.id, "asset_id": station.id}, tenant_id=tenant.id
    ).device
    for i in range(3):
        services.devices.create(
            admin, {"name": f"AC-0{i + 2}", "profile_id": profile.id}, tenant_id=tenant.id
        )
    now = int(time.time() * 1000)
    batch = TelemetryBatch()
    for i in range(1800):
        ts = now - 1_800_000 + i * 1000
        batch.add(device.id, "pressure_bar", ts, 7.0 + (i % 60) / 100)
        batch.add(device.id, "power_kw", ts, 90.0 + (i % 30) / 10)
    telemetry.append(batch)
    services.connectivity.activity({device.id: now})
    rule = services.alarms.create_rule(
        admin,
        profile.id,
        {
            "name": "High pressure",
            "alarm_type": "High pressure",
            "levels": [
                {
                    "severity": "major",
                    "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8},
                }
            ],
        },
        tenant_id=tenant.id,
    )
    alarm = Alarm("alarm-1", tenant.id, device.id, rule.id, "High pressure", Severity.MAJOR, now - 120_000)
    with uow() as unit:
        unit.alarms.save_alarm(alarm)
        unit.commit()
    return device.id, alarm.id


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A real uvicorn server of the platform app on a free port."""
    engine = create_metadata_engine(sqlite_url(tmp_path / "metadata.sqlite"))
    upgrade_to_head(engine)
    uow = SqlUnitOfWorkFactory(engine)
    telemetry = MemoryTelemetryStore()
    services = build_services(uow, telemetry, SystemClock(), JWT, 900, passwords=cheap_passwords())
    device_id, alarm_id = _populate(services, uow, telemetry)
    app = create_app(PlatformStandIn(services=services, registry=CollectorRegistry()))
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console server did not start"
        time.sleep(0.05)
    try:
        yield Console(f"http://127.0.0.1:{port}", telemetry, device_id, alarm_id, services)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture
def page(console: Console) -> Iterator[Any]:
    """A Chromium page (the system's browser), or skip/fail when there is none."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        require_service(
            "Chromium", "install it with `apt-get install chromium chromium-driver fonts-wqy-microhei`"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dev dependency
        require_service("Playwright", "pip install -e '.[dev]'")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def _sign_in(page: Any, console: Console) -> None:
    page.goto(console.url + "/console/fleet")
    assert "/console/login" in page.url
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/console/fleet")


def test_sign_in_fleet_live_value_alarm_and_chinese(console: Console, page: Any) -> None:
    from playwright.sync_api import expect

    _sign_in(page, console)
    expect(page.locator("h1")).to_have_text("Fleet")
    expect(page.locator("#devices tbody tr")).to_have_count(4)
    expect(page.locator("#count-connected")).to_have_text("1")
    expect(page.locator("#count-alarm")).to_have_text("1")
    page.fill("#q", "AC-01")
    expect(page.locator("#devices tbody tr")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "fleet.png"), full_page=True)

    page.click("text=AC-01")
    page.wait_for_url(f"**/console/devices/{console.device_id}")
    cell = page.locator('tr[data-key="pressure_bar"] td.value')
    expect(cell).to_contain_text("bar")
    expect(page.locator("#live-state.on")).to_have_count(1)
    batch = TelemetryBatch()
    batch.add(console.device_id, "pressure_bar", int(time.time() * 1000), 9.87)
    console.telemetry.append(batch)
    expect(cell).to_have_text("9.87 bar")  # pushed over server-sent events, no reload
    page.wait_for_function("document.querySelectorAll('.chart canvas').length >= 2")
    page.screenshot(path=str(SCREENSHOTS / "device.png"), full_page=True)

    page.click("nav >> text=Alarms")
    row = page.locator(f'tr[data-alarm="{console.alarm_id}"]')
    expect(row).to_contain_text("active, unacknowledged")
    row.locator("button:has-text('Acknowledge')").click()
    expect(row).to_contain_text("active, acknowledged")
    assert console.services.alarms.get_alarm(PLATFORM_ADMIN, console.alarm_id).acknowledged
    page.screenshot(path=str(SCREENSHOTS / "alarms.png"), full_page=True)

    # remote O&M: a work order from the alarm, assigned and visible in the list
    row.locator("button:has-text('Open work order')").click()
    page.wait_for_url("**/console/workorders/*")
    expect(page.locator("h1")).to_contain_text("High pressure")
    page.fill("input[name=assignee]", "olga")
    page.click("button:has-text('Assign')")
    expect(page.locator("#wo-state")).to_have_text("assigned")
    page.screenshot(path=str(SCREENSHOTS / "workorder.png"), full_page=True)
    page.click("nav >> text=Work orders")
    expect(page.locator("#workorders")).to_contain_text("High pressure")
    page.screenshot(path=str(SCREENSHOTS / "workorders.png"), full_page=True)
    for nav, title, shot in (("Energy", "Energy", "energy.png"), ("Condition", "Condition", "condition.png")):
        page.click(f"nav >> text={nav}")
        expect(page.locator("h1")).to_have_text(title)
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)

    page.click("nav >> text=Sites and assets")
    expect(page.locator("text=Compressor station")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "sites.png"), full_page=True)

    page.select_option("#language", "zh-CN")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("厂区与资产")
    page.click("nav >> text=设备总览")
    expect(page.locator("h1")).to_have_text("设备总览")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.screenshot(path=str(SCREENSHOTS / "fleet-zh-CN.png"), full_page=True)
    page.click("nav >> text=告警")
    expect(page.locator(f'tr[data-alarm="{console.alarm_id}"]')).to_contain_text("已确认")
    page.screenshot(path=str(SCREENSHOTS / "alarms-zh-CN.png"), full_page=True)
