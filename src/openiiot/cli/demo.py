"""`openiiot demo`: seed a demo enterprise (idempotently) and run its simulated devices over real MQTT."""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from openiiot.bootstrap import Platform
from openiiot.cli import demo_catalog as catalog
from openiiot.domain.model import Principal, Role
from openiiot.settings import Settings
from openiiot.sim.fleet import SimulatedDevice
from openiiot.sim.publisher import SimRunner

CREDENTIALS_HEADER = ["device_id", "access_token", "model", "group"]


def _write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def demo_admin_password(settings: Settings) -> str:
    """The demo admin password: from OPENIIOT_DEMO_PASSWORD, or generated once and kept in the data dir."""
    if settings.demo_password:
        return settings.demo_password
    path = settings.data_dir / "demo" / "admin-password.txt"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(12)
    _write_private(path, password + "\n")
    return password


def _admin_principal(platform: Platform) -> Principal:
    with platform.uow() as uow:
        admin = uow.users.get_by_username("admin")
    return Principal(user_id=admin.id, username=admin.username, role=admin.role, tenant_id=admin.tenant_id)


def _find(items: list[Any], name: str) -> Any | None:
    return next((item for item in items if item.name == name), None)


def seed_demo(platform: Platform, credentials_path: Path) -> list[SimulatedDevice]:
    """Create what is missing of the demo enterprise; return the simulated devices with their tokens."""
    svc = platform.services
    admin = _admin_principal(platform)
    tenant = _find(svc.tenants.list(admin, limit=1000), catalog.TENANT["name"])
    if tenant is None:
        tenant = svc.tenants.create(admin, catalog.TENANT)
    with platform.uow() as uow:
        sites = uow.sites.list(tenant.id, limit=1000)
        assets = uow.assets.list(tenant.id, limit=1000)
        profiles = uow.profiles.list(tenant.id, limit=1000)
        devices = uow.devices.list(tenant.id, limit=1000)
    site = _find(sites, str(catalog.SITE["name"]))
    if site is None:
        site = svc.sites.create(admin, catalog.SITE, tenant_id=tenant.id)
    profile_ids = {}
    for model, spec in catalog.PROFILES.items():
        found = _find(profiles, spec["name"]) or svc.profiles.create(admin, spec, tenant_id=tenant.id)
        profile_ids[model] = found.id
    asset_ids = {}
    for name, asset_type, _parent in catalog.ASSETS:
        values = {"name": name, "asset_type": asset_type}
        found = _find(assets, name) or svc.assets.create(
            admin, site_id=site.id, values=values, tenant_id=tenant.id
        )
        asset_ids[name] = found.id
    for model, rules in catalog.ALARM_RULES.items():
        existing = {r.rule.get("name") for r in svc.alarms.list_rules(admin, profile_id=profile_ids[model])}
        for rule in rules:
            if rule["name"] not in existing:
                svc.alarms.create_rule(admin, profile_ids[model], rule, tenant_id=tenant.id)
    tokens = _read_tokens(credentials_path)
    rows = []
    for name, model, asset, group in catalog.DEVICES:
        device = _find(devices, name)
        if device is None:
            values = {"name": name, "profile_id": profile_ids[model], "asset_id": asset_ids[asset]}
            created = svc.devices.create(admin, values, tenant_id=tenant.id)
            device_id, token = created.device.id, created.access_token
        elif device.id in tokens:
            device_id, token = device.id, tokens[device.id]
        else:  # the token was shown once and lost: issue a new one, as an operator would
            device_id, token = device.id, svc.devices.rotate_credentials(admin, device.id)
        rows.append(SimulatedDevice(device_id, token, model, group))
    _write_private(
        credentials_path,
        "".join(
            [",".join(CREDENTIALS_HEADER) + "\n"]
            + [f"{d.device_id},{d.token},{d.model},{d.group or ''}\n" for d in rows]
        ),
    )
    return rows


def _read_tokens(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["device_id"]: row["access_token"] for row in csv.DictReader(fh)}


def start_demo(platform: Platform, settings: Settings, console: Console) -> Callable[[], None]:
    """Seed the demo, start the simulated devices, print where to look; return the stop function."""
    password = demo_admin_password(settings)
    if not platform.services.auth.ensure_admin("admin", password):
        with platform.uow() as uow:
            admin = uow.users.get_by_username("admin")
        if admin.role is not Role.PLATFORM_ADMIN:
            raise RuntimeError("user 'admin' exists but is not a platform admin")
    devices = seed_demo(platform, settings.data_dir / "demo" / "devices.csv")
    # production mode: the devices log in to the external broker (Mosquitto checks their tokens)
    host, port, _tls = platform.device_mqtt_address()
    runner = SimRunner(devices, host, port, rate_hz=1.0, seed=42)
    runner.start()
    base = f"http://{settings.http_host}:{settings.http_port}"
    console.print(f"[bold green]OpenIIoT demo[/] — {len(devices)} simulated devices publishing over MQTT")
    console.print(f"Console:   {base}/console/  (English / 简体中文)")
    console.print(f"Sign in:   user [bold]admin[/], password [bold]{password}[/]")
    console.print(f"API docs:  {base}/docs")
    console.print(f"Example:   {base}/api/v1/devices/{devices[0].device_id}/telemetry/latest")
    console.print(f"MQTT:      {host}:{port}" + (" (external broker)" if settings.mqtt_url else ""))
    where = "the database of OPENIIOT_DATABASE_URL" if settings.database_url else str(settings.data_dir)
    console.print(f"Ctrl-C stops; a rerun resumes with the same data in {where}")
    return runner.stop
