"""Production storage chosen from OPENIIOT_DATABASE_URL: PostgreSQL metadata and telemetry, and the
messages a misconfigured URL gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.postgres_support import temporary_database

from openiiot.bootstrap import build_platform
from openiiot.domain.errors import ConfigurationError
from openiiot.domain.model import DeviceProfile, Tenant
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.settings import load_settings
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def _with(url: str, *, user: str | None = None, port: int | None = None, password: str | None = None) -> str:
    parts = urlsplit(url)
    credentials = user or parts.username or ""
    if password is not None:
        credentials += f":{password}"
    netloc = f"{credentials}@{parts.hostname}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_a_postgresql_url_puts_metadata_and_telemetry_in_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    platform = build_platform(load_settings(data_dir=tmp_path, database_url=database_url))
    try:
        assert isinstance(platform.telemetry, PostgresTelemetryStore)
        with platform.uow() as uow:
            uow.tenants.add(Tenant(id="t", name="T"))
            uow.profiles.add(DeviceProfile(id="p", tenant_id="t", name="p"))
            uow.commit()
        batch = TelemetryBatch()
        batch.add("d1", "temp", 1000, 21.5)
        assert platform.telemetry.append(batch) == 1
    finally:
        platform.telemetry.close()
    assert not (tmp_path / "telemetry.duckdb").exists()  # nothing of embedded mode was created
    assert not (tmp_path / "metadata.sqlite").exists()
    reopened = PostgresTelemetryStore(database_url)
    try:
        assert reopened.latest(["d1"])["d1"]["temp"].value == 21.5
    finally:
        reopened.close()


@pytest.mark.parametrize(
    "breakage",
    ["unreachable server", "unknown user", "unknown database", "malformed URL"],
)
def test_a_misconfigured_database_url_fails_fast_saying_what_to_fix(
    database_url: str, tmp_path: Path, breakage: str
) -> None:
    url = {
        "unreachable server": _with(database_url, port=1, password="s3cret-pw"),
        "unknown user": _with(database_url, user="no_such_role", password="s3cret-pw"),
        "unknown database": urlunsplit(urlsplit(database_url)._replace(path="/no_such_database")),
        "malformed URL": "postgresql://host:notaport/db",
    }[breakage]
    with pytest.raises(ConfigurationError) as caught:
        build_platform(load_settings(data_dir=tmp_path, database_url=url))
    message = str(caught.value)
    assert "OPENIIOT_DATABASE_URL" in message or "malformed" in message
    assert "s3cret-pw" not in message  # the password is never echoed
