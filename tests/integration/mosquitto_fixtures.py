"""A private Mosquitto 2 with the dynamic-security plugin, on a free port in a temporary directory.

Skips with a message saying how to provide Mosquitto when the binary or the plugin is missing; fails
instead under CI (OPENIIOT_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import require_service

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform
from openiiot.settings import load_settings
from openiiot.sim.mqtt_pool import free_tcp_port

MOSQUITTO = os.environ.get("OPENIIOT_TEST_MOSQUITTO", "/usr/sbin/mosquitto")
PLUGIN = os.environ.get(
    "OPENIIOT_TEST_DYNSEC_PLUGIN", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
)
HOW = "install the `mosquitto` package (Debian/Ubuntu: apt-get install mosquitto; .ci/run does it)"
ADMIN_USER = "platform-admin"
ADMIN_PASSWORD = "admin-secret-for-tests"


@dataclass
class Mosquitto:
    """A running private broker."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    admin_user: str = ADMIN_USER
    admin_password: str = ADMIN_PASSWORD

    @property
    def url(self) -> str:
        """OPENIIOT_MQTT_URL for the platform."""
        return f"mqtt://{self.admin_user}:{self.admin_password}@127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the broker wrote so far."""
        return (self.directory / "mosquitto.log").read_text(encoding="utf-8", errors="replace")


def require_mosquitto() -> None:
    """Skip (fail under CI) when Mosquitto or its dynamic-security plugin is not installed."""
    if not (os.access(MOSQUITTO, os.X_OK) or shutil.which("mosquitto")):
        require_service("Mosquitto", f"{MOSQUITTO} not found; {HOW}")
    if not Path(PLUGIN).exists():
        require_service("Mosquitto dynamic-security plugin", f"{PLUGIN} not found; {HOW}")


def _binary() -> str:
    return MOSQUITTO if os.access(MOSQUITTO, os.X_OK) else str(shutil.which("mosquitto"))


def write_dynsec_config(path: Path, user: str, password: str) -> None:
    """The plugin's JSON with one admin client, written by `mosquitto_ctrl dynsec init`."""
    ctrl = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"
    subprocess.run(
        [ctrl, "dynsec", "init", str(path), user, password], check=True, capture_output=True, timeout=30
    )


def start_mosquitto(
    directory: Path, *, dynsec: bool = True, extra_conf: str = "", persistence: bool = False
) -> Mosquitto:
    """Start a broker listening on 127.0.0.1:<free port>; waits until it accepts connections.

    `persistence=True` keeps sessions, subscriptions and queued QoS 1 messages in `mosquitto.db` in
    `directory` across `restart_mosquitto` (Mosquitto writes it when it stops), as deploy-broker.md advises.
    """
    require_mosquitto()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    lines = [
        "per_listener_settings false",
        f"listener {port} 127.0.0.1",
        "persistence true" if persistence else "persistence false",
        f"persistence_location {directory}/",
        f"log_dest file {directory / 'mosquitto.log'}",
        "log_dest topic",  # device sessions for the platform's connectivity (session_log.py)
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
    ]
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # otherwise it drops to `mosquitto` and cannot save
    if dynsec:
        config = directory / "dynamic-security.json"
        write_dynsec_config(config, ADMIN_USER, ADMIN_PASSWORD)
        lines += ["allow_anonymous false", f"plugin {PLUGIN}", f"plugin_opt_config_file {config}"]
    lines.append(extra_conf)
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (directory / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen([_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=stderr)
    broker = Mosquitto(port=port, directory=directory, process=process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = (directory / "stderr.txt").read_text(errors="replace")
            raise AssertionError(f"mosquitto exited at start ({process.returncode}): {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return broker
        except OSError:
            time.sleep(0.05)
    stop_mosquitto(broker)
    raise AssertionError("mosquitto did not listen within 10 s")


def restart_mosquitto(broker: Mosquitto) -> None:
    """Stop the broker and start it again on the same port with the same files (dynsec JSON kept)."""
    stop_mosquitto(broker)
    with (broker.directory / "stderr.txt").open("ab") as stderr:
        broker.process = subprocess.Popen(
            [_binary(), "-c", str(broker.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("mosquitto did not listen again within 10 s")


def kill_mosquitto(broker: Mosquitto) -> None:
    """SIGKILL the broker (a crash, `kill -9`): it saves nothing; its files stay as they were."""
    if broker.process.poll() is None:
        broker.process.kill()
        broker.process.wait(10)


def stop_mosquitto(broker: Mosquitto) -> None:
    """Terminate the broker process (by its own handle) and wait for it."""
    if broker.process.poll() is None:
        broker.process.terminate()
        try:
            broker.process.wait(10)
        except subprocess.TimeoutExpired:
            broker.process.kill()
            broker.process.wait(10)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto with dynamic security and one admin client (ADMIN_USER)."""
    broker = start_mosquitto(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        stop_mosquitto(broker)


@contextmanager
def platform_on(broker: Mosquitto, directory: Path, admin_password: str) -> Iterator[Platform]:
    """A started platform whose devices authenticate at `broker`, with an `admin` user; stopped on exit."""
    settings = load_settings(data_dir=directory / "data", http_port=free_tcp_port(), mqtt_url=broker.url)
    built = build_platform(settings)
    try:
        built.start()
    except Exception:
        built.stop()
        raise
    built.services.auth.ensure_admin("admin", admin_password)
    try:
        yield built
    finally:
        built.stop()


@asynccontextmanager
async def admin_client(platform: Platform, admin_password: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API client of `platform`, signed in as `admin`."""
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
        token = await client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": admin_password}
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
