"""`openiiot serve` in production mode with a wrong setting stops within seconds, exit status 2, and says
what to fix: bad OPENIIOT_DATABASE_URL, bad OPENIIOT_MQTT_URL, TimescaleDB required but not installed.

Each case runs the real command as a subprocess; a hang would show as the subprocess timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.postgres_support import server_url, temporary_database, with_database

from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = pytest.mark.integration
HANG_S = 90  # far above any fail-fast path (the slowest waits 10 s for a silent server)


def serve(tmp_path: Path, **env: str) -> tuple[int, str]:
    """Run `openiiot serve` with `env`; its exit status and output, whitespace collapsed (rich wraps)."""
    environment = {
        **os.environ,
        "OPENIIOT_DATA_DIR": str(tmp_path / "data"),
        "OPENIIOT_HTTP_PORT": str(free_tcp_port()),
        "OPENIIOT_MQTT_PORT": str(free_tcp_port()),
        "COLUMNS": "300",
        **env,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "openiiot.cli.app", "serve"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=HANG_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`openiiot serve` hung with {env}: {exc.output!r}") from exc
    return done.returncode, " ".join((done.stdout + done.stderr).split())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung server, a wrong service)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://postgres@127.0.0.1:notaport/openiiot", "notaport"),
        ("mysql://user@db.example/openiiot", "use sqlite:// or postgresql://"),
        ("pg:/secret-in-a-bad-url", "must look like postgresql://USER:PASSWORD@HOST:5432/DATABASE"),
    ],
)
def test_a_malformed_database_url(tmp_path: Path, url: str, says: str) -> None:
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=url)
    assert status == 2, output
    assert says in output
    assert "OPENIIOT_DATABASE_URL" in output
    assert "secret-in-a-bad-url" not in output


def test_a_database_server_that_is_not_running(tmp_path: Path) -> None:
    port = free_tcp_port()
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/openiiot")
    assert status == 2, output
    assert f"port {port} failed" in output
    assert (
        "check OPENIIOT_DATABASE_URL (host, port, user, password, database) and that the server runs"
        in output
    )


def test_a_database_server_that_never_answers_times_out(tmp_path: Path, silent_server: int) -> None:
    url = f"postgresql://postgres:pw@127.0.0.1:{silent_server}/openiiot"
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=url)
    assert status == 2, output
    assert "connection timeout expired" in output
    assert "check OPENIIOT_DATABASE_URL" in output


@pytest.mark.services
def test_an_unknown_database_user_without_showing_the_password(tmp_path: Path) -> None:
    with psycopg.connect(server_url(), connect_timeout=3):
        pass  # the test server is up (else the message would be about the server)
    url = with_database(server_url(), "postgres").replace("//postgres@", "//no_such_user:topsecret@")
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=url)
    assert status == 2, output
    assert 'role "no_such_user" does not exist' in output
    assert "check OPENIIOT_DATABASE_URL" in output
    assert "topsecret" not in output


@pytest.mark.services
def test_an_unknown_database(tmp_path: Path) -> None:
    with psycopg.connect(server_url(), connect_timeout=3):
        pass
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=with_database(server_url(), "no_such_db_xyz"))
    assert status == 2, output
    assert 'database "no_such_db_xyz" does not exist' in output
    assert "check OPENIIOT_DATABASE_URL" in output


def test_a_malformed_broker_url(tmp_path: Path) -> None:
    status, output = serve(tmp_path, OPENIIOT_MQTT_URL="mqtt://mqtt.example:1883")
    assert status == 2, output
    assert "has no user and password" in output and "OPENIIOT_MQTT_URL" in output


@pytest.mark.services
def test_an_unreachable_broker_after_the_database_is_set_up(tmp_path: Path, database: str) -> None:
    # TimescaleDB is not installed here: the log says the telemetry store chose native partitions
    port = free_tcp_port()
    status, output = serve(
        tmp_path, OPENIIOT_DATABASE_URL=database, OPENIIOT_MQTT_URL=f"mqtt://u:p@127.0.0.1:{port}"
    )
    assert status == 2, output
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in output
    assert "check host and port and that Mosquitto runs" in output
    if not timescale_installed(database):
        assert (
            "TimescaleDB is not installed on the PostgreSQL server; telemetry uses native partitions"
            in output
        )
        assert "telemetry schema telemetry created: native daily partitions" in output


@pytest.mark.services
def test_a_broker_that_never_answers(tmp_path: Path, database: str, silent_server: int) -> None:
    url = f"mqtt://u:p@127.0.0.1:{silent_server}"
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=database, OPENIIOT_MQTT_URL=url)
    assert status == 2, output
    assert f"the MQTT broker at 127.0.0.1:{silent_server} (OPENIIOT_MQTT_URL) did not answer" in output


def timescale_installed(database: str) -> bool:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


@pytest.mark.services
def test_timescaledb_required_but_not_installed(tmp_path: Path, database: str) -> None:
    if timescale_installed(database):
        pytest.skip("TimescaleDB is installed on this server; the refusal cannot be shown")
    status, output = serve(tmp_path, OPENIIOT_DATABASE_URL=database, OPENIIOT_TELEMETRY_TIMESCALE="require")
    assert status == 2, output
    assert "TimescaleDB is required (OPENIIOT_TELEMETRY_TIMESCALE=require)" in output
    assert "shared_preload_libraries" in output and "OPENIIOT_TELEMETRY_TIMESCALE=auto" in output


def test_a_setting_with_a_wrong_value_is_named_without_a_traceback(tmp_path: Path) -> None:
    status, output = serve(tmp_path, OPENIIOT_TELEMETRY_TIMESCALE="maybe", OPENIIOT_HTTP_PORT="http")
    assert status == 2, output
    assert "OPENIIOT_TELEMETRY_TIMESCALE='maybe': Input should be 'auto', 'require' or 'off'" in output
    assert "OPENIIOT_HTTP_PORT='http': Input should be a valid integer" in output
    assert "Traceback" not in output
