"""Server time of the console's heavy pages: the fleet table over 10,000 devices, 30 days of 1 s history.

    make bench BENCH=console [BENCH_ARGS="--devices 10000 --days 30 --output -"]

One platform is built as `openiiot serve` builds it (SQLite metadata file, DuckDB telemetry file, the same
services and console), without its broker: the data is written straight into the stores. Then:

- 10,000 devices on 20 sites, 90 % of them active, 2 % with an open alarm raised by a real alarm rule;
- one device with 30 days of one value per second (2,592,000 points), appended in batches as ingest does.

Each page is requested through the ASGI app in-process (no network), signed in through the console's own
form, and timed from request to the last byte of the response: that is the server's time. The reference,
measured in the same run, is the management API's JSON for the same data (`GET /api/v1/devices`, and the
API's own aggregate query for the same range and bucket).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from openiiot.api.app import create_app
from openiiot.bootstrap import build_platform
from openiiot.domain.model import Principal, Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MARK_START = "<!-- bench:console:start -->"
MARK_END = "<!-- bench:console:end -->"
TARGET_MS = 300.0
ADMIN = Principal(user_id="bench", username="bench", role=Role.PLATFORM_ADMIN, tenant_id=None)
ADMIN_PASSWORD = "console-bench-password"


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, jwt_secret="console-benchmark-secret-" + "x" * 20)


def seed(plat: object, devices: int, days: int, now_ms: int) -> tuple[str, str]:
    """Tenant, sites, assets, profile, devices, activity, alarms and the long history; returns ids."""
    services = plat.services  # type: ignore[attr-defined]
    tenant = services.tenants.create(ADMIN, {"name": "Bench Manufacturing", "region_code": "310000"})
    profile = services.profiles.create(
        ADMIN,
        {
            "name": "Screw compressor",
            "keys": [
                {"key": "discharge_temp_c", "unit": "°C", "precision": 1},
                {"key": "power_kw", "unit": "kW", "precision": 1},
            ],
        },
        tenant_id=tenant.id,
    )
    assets = []
    for s in range(20):
        site = services.sites.create(ADMIN, {"name": f"Plant {s:02d}"}, tenant_id=tenant.id)
        for a in range(5):
            assets.append(
                services.assets.create(
                    ADMIN, site_id=site.id, values={"name": f"Line {s:02d}-{a}"}, tenant_id=tenant.id
                )
            )
    ids: list[str] = []
    started = time.perf_counter()
    for i in range(devices):
        created = services.devices.create(
            ADMIN,
            {"name": f"CMP-{i:05d}", "profile_id": profile.id, "asset_id": assets[i % len(assets)].id},
            tenant_id=tenant.id,
        )
        ids.append(created.device.id)
    print(f"  {devices:,} devices created in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    services.alarms.create_rule(
        ADMIN,
        profile.id,
        {
            "id": "x",
            "name": "Discharge temperature high",
            "alarm_type": "High discharge temperature",
            "levels": [
                {
                    "severity": "major",
                    "condition": {"type": "threshold", "key": "discharge_temp_c", "op": ">", "value": 105},
                }
            ],
        },
        tenant_id=tenant.id,
    )
    # 90 % of the devices report (active); 2 % of all report a temperature above the rule's limit
    batch = TelemetryBatch()
    for n, device_id in enumerate(ids):
        if n % 10 == 9:
            continue
        batch.add(device_id, "discharge_temp_c", now_ms - 5_000, 110.0 if n % 50 == 0 else 85.0)
        batch.add(device_id, "power_kw", now_ms - 5_000, 75.0)
    plat.telemetry.append(batch)  # type: ignore[attr-defined]
    plat.connectivity.activity({d: now_ms - 5_000 for d in set(batch.device_id)})  # type: ignore[attr-defined]
    plat.alarm_engine.on_batch(batch)  # type: ignore[attr-defined]
    # one device with `days` days of 1 s data, appended in 1-hour batches
    history_device = ids[1]
    started = time.perf_counter()
    start_ms = now_ms - days * 86_400_000
    for hour in range(days * 24):
        chunk = TelemetryBatch()
        base = start_ms + hour * 3_600_000
        for s in range(3600):
            ts = base + s * 1000
            chunk.add(history_device, "power_kw", ts, 60.0 + 15.0 * ((ts // 60_000) % 7) + (s % 13) * 0.1)
        plat.telemetry.append(chunk)  # type: ignore[attr-defined]
    print(
        f"  {days * 86400:,} points of history appended in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return tenant.id, history_device


async def timed(call: Callable[[], Awaitable[httpx.Response]], repeat: int) -> dict[str, float]:
    """Median and worst server time of `repeat` requests, after one warm-up; fails on a non-200."""
    warm = await call()
    if warm.status_code != 200:
        raise SystemExit(f"benchmark request failed: {warm.status_code} {warm.text[:300]}")
    times = []
    size = len(warm.content)
    for _ in range(repeat):
        started = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"benchmark request failed: {response.status_code}")
    return {"median_ms": statistics.median(times), "max_ms": max(times), "bytes": size}


async def measure(
    plat: object, history_device: str, devices: int, repeat: int
) -> dict[str, dict[str, float]]:
    """Sign in through the console form, then time each page and its API reference."""
    services = plat.services  # type: ignore[attr-defined]
    services.auth.ensure_admin("admin", ADMIN_PASSWORD)
    app = create_app(plat)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    results: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.local", timeout=120) as client:
        await client.get("/console/login")
        login = await client.post(
            "/console/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrf_token": client.cookies.get("openiiot_login_csrf") or "",
                "next": "/console/fleet",
            },
        )
        assert login.status_code == 303, login.text
        token = (
            await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        ).json()["access_token"]
        api = {"Authorization": f"Bearer {token}"}
        pages_total = -(-devices // 50)
        pages, late_page = pages_total, max(1, pages_total * 3 // 4)
        search = f"CMP-{devices // 2:05d}"[:-1]
        table = {"HX-Request": "true", "HX-Target": "device-table"}
        pages_: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "fleet page (first 50 of all devices)": lambda: client.get("/console/fleet"),
            f"fleet table, page {late_page} of {pages}": lambda: client.get(
                f"/console/fleet?page={late_page}", headers=table
            ),
            f"fleet table, search '{search}' (10 matches)": lambda: client.get(
                f"/console/fleet?q={search}", headers=table
            ),
            "fleet table, status filter 'connected' (90 % match)": lambda: client.get(
                "/console/fleet?status=connected", headers=table
            ),
            "fleet counts by tenant, site and region": lambda: client.get("/console/fleet/summary"),
            "device page": lambda: client.get(f"/console/devices/{history_device}"),
            "device history, 30 days (min/max buckets)": lambda: client.get(
                f"/console/devices/{history_device}/history?key=power_kw&range=30d"
            ),
            "device history, 24 hours": lambda: client.get(
                f"/console/devices/{history_device}/history?key=power_kw&range=24h"
            ),
            "alarms page": lambda: client.get("/console/alarms"),
        }
        for name, call in pages_.items():
            results[name] = await timed(call, repeat)
            print(f"  {name}: {results[name]['median_ms']:.1f} ms", file=sys.stderr)
        end_ms = int(time.time() * 1000) + 1
        references: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "API: GET /api/v1/devices?limit=50": lambda: client.get("/api/v1/devices?limit=50", headers=api),
            "API: 30-day aggregate, 1 h buckets (min, max)": lambda: client.get(
                f"/api/v1/devices/{history_device}/telemetry",
                params={
                    "keys": "power_kw",
                    "interval": "1h",
                    "agg": "min,max",
                    "start": str(end_ms - 30 * 86_400_000),
                    "end": str(end_ms),
                },
                headers=api,
            ),
        }
        for name, call in references.items():
            results[name] = await timed(call, repeat)
            print(f"  {name}: {results[name]['median_ms']:.1f} ms", file=sys.stderr)
    return results


def render(devices: int, days: int, repeat: int, results: dict[str, dict[str, float]]) -> str:
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {cpu}, {os.cpu_count()} cores (load average {load}), Python "
        f"{platform.python_version()}: {devices:,} devices (20 sites, 90 % active, 2 % in alarm), one device "
        f"with {days} days of 1 s data ({days * 86400:,} points); SQLite metadata and DuckDB telemetry "
        "files, "
        f"requests in-process through the ASGI app; median and worst of {repeat} after a warm-up. "
        f"Target: ≤ {TARGET_MS:.0f} ms server time.",
        "",
        "| page | median | worst | response size | within target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        ok = "" if name.startswith("API") else ("yes" if r["median_ms"] <= TARGET_MS else "**no**")
        lines.append(
            f"| {name} | {r['median_ms']:.1f} ms | {r['max_ms']:.1f} ms "
            f"| {r['bytes'] / 1024:.1f} KiB | {ok} |"
        )
    lines += [
        "",
        f"Command: `python benchmarks/console.py --devices {devices} --days {days} --repeat {repeat}`",
    ]
    return "\n".join(lines)


def write_marked(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_START not in text:
        text = text.rstrip() + "\n\n## Console: page server time\n\n" + f"{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_START}\n{section}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' = do not write")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        plat = build_platform(_settings(Path(tmp)))
        plat.connectivity.load(sessions_reset=False)  # type: ignore[union-attr]
        now_ms = int(time.time() * 1000)
        _, history_device = seed(plat, args.devices, args.days, now_ms)
        results = asyncio.run(measure(plat, history_device, args.devices, args.repeat))
        plat.telemetry.close()
    section = render(args.devices, args.days, args.repeat, results)
    print(section)
    if str(args.output) != "-":
        write_marked(args.output, section)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
