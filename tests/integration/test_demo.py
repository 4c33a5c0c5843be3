"""`openiiot demo` end to end: a real process, its embedded broker, simulated devices, the REST API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = pytest.mark.integration


def _start(data_dir: Path, http_port: int, mqtt_port: int, command: str = "demo") -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "OPENIIOT_DATA_DIR": str(data_dir),
        "OPENIIOT_HTTP_PORT": str(http_port),
        "OPENIIOT_MQTT_PORT": str(mqtt_port),
        "OPENIIOT_DEMO_PASSWORD": "demo-test-password",
        "OPENIIOT_ADMIN_PASSWORD": "demo-test-password",
        "OPENIIOT_LOG_LEVEL": "WARNING",
    }
    log_path = data_dir / f"{command}-{time.monotonic_ns()}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "openiiot.cli.app", command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    process.log_path = log_path  # type: ignore[attr-defined]
    return process


def _stop(process: subprocess.Popen[str]) -> str:
    """Ctrl-C the process group, as a terminal does; return what it printed."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return str(process.log_path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]


def _login(client: httpx.Client, deadline: float) -> str:
    while time.monotonic() < deadline:
        try:
            response = client.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "demo-test-password"}
            )
            if response.status_code == 200:
                return str(response.json()["access_token"])
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("the demo's API did not accept the admin login in time")


def _live_latest(client: httpx.Client, token: str, deadline: float) -> dict[str, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        devices = client.get("/api/v1/devices", params={"limit": 100}, headers=headers).json()["items"]
        compressors = [d for d in devices if d["name"].startswith("Compressor")]
        if compressors:
            latest = client.get(f"/api/v1/devices/{compressors[0]['id']}/telemetry/latest", headers=headers)
            values = latest.json()["values"]
            if "discharge_pressure_bar" in values:
                return dict(values)
        time.sleep(0.5)
    raise AssertionError("no live values from the simulated compressors in time")


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_tcp_port(), free_tcp_port()


def test_demo_serves_live_values_within_60_s_and_resumes_after_restart(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    http_port, mqtt_port = ports
    process = _start(tmp_path, http_port, mqtt_port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            token = _login(client, deadline)
            values = _live_latest(client, token, deadline)
            assert 0 < float(values["discharge_pressure_bar"]["value"]) < 16  # type: ignore[arg-type]
            first_ts = int(values["discharge_pressure_bar"]["ts"])  # type: ignore[call-overload]
            devices_before = client.get(
                "/api/v1/devices", params={"limit": 100}, headers={"Authorization": f"Bearer {token}"}
            ).json()["total"]
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    assert "OpenIIoT stopped." in output

    again = _start(tmp_path, http_port, mqtt_port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            token = _login(client, deadline)
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/v1/devices", headers=headers).json()["total"] == devices_before
            while time.monotonic() < deadline:
                values = _live_latest(client, token, deadline)
                if int(values["discharge_pressure_bar"]["ts"]) > first_ts:  # type: ignore[call-overload]
                    break
                time.sleep(0.5)
            else:
                raise AssertionError("the resumed demo's devices did not publish again")
    finally:
        _stop(again)
    assert again.returncode == 0


def test_serve_reports_a_port_in_use_clearly(tmp_path: Path, ports: tuple[int, int]) -> None:
    http_port, mqtt_port = ports
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", http_port))
        blocker.listen()
        process = _start(tmp_path, http_port, mqtt_port, command="serve")
        process.wait(timeout=60)
        output = _stop(process)
    assert process.returncode == 2
    assert f"HTTP port {http_port}" in output
    assert "OPENIIOT_HTTP_PORT" in output


def test_cli_provisions_devices_from_csv_with_a_per_row_report(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    http_port, mqtt_port = ports
    process = _start(tmp_path, http_port, mqtt_port, command="serve")
    try:
        base = f"http://127.0.0.1:{http_port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            headers = {"Authorization": f"Bearer {_login(client, time.monotonic() + 60)}"}
            tenant = client.post("/api/v1/tenants", json={"name": "CLI works"}, headers=headers).json()
            client.post(
                "/api/v1/device-profiles",
                json={"tenant_id": tenant["id"], "name": "meter", "keys": [{"key": "energy_kwh"}]},
                headers=headers,
            ).raise_for_status()
        sheet = tmp_path / "devices.csv"
        sheet.write_text("name,profile\nM1,meter\nM2,no-such-profile\n,meter\nM3,meter\n", encoding="utf-8")
        out = tmp_path / "tokens.csv"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "openiiot.cli.app",
                "devices",
                "provision",
                "--csv",
                str(sheet),
                "--tenant-id",
                tenant["id"],
                "--out",
                str(out),
                "--url",
                base,
                "--password",
                "demo-test-password",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
    finally:
        _stop(process)
    assert result.returncode == 1, result.stdout + result.stderr  # some rows were rejected
    assert "Created: 2" in result.stdout
    assert "Rejected rows: 2" in result.stdout
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "device_id,name,access_token"
    assert sorted(r.split(",")[1] for r in rows[1:]) == ["M1", "M3"]
    assert all(len(r.split(",")[2]) == 43 for r in rows[1:])  # 32 random bytes, URL-safe
