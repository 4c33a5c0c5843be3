"""Metadata backends for the contract suite: each yields a unit-of-work factory and a credential lookup.

PostgreSQL runs on a database shared by the test module (conftest.postgres_database, on the server of
OPENIIOT_TEST_POSTGRES_URL): migrated once, emptied before every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from openiiot.domain.model import (
    Asset,
    Device,
    DeviceProfile,
    KeyKind,
    Role,
    Site,
    TelemetryKeySpec,
    Tenant,
    User,
)
from openiiot.services.ports import CredentialLookup, UnitOfWorkFactory
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.sql.credentials import open_credential_lookup
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.tables import metadata
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

METADATA_BACKENDS = ["memory", "sqlite", "postgres"]


@dataclass
class MetadataBackend:
    """One backend under test."""

    name: str
    uow: UnitOfWorkFactory
    credentials: CredentialLookup


@contextmanager
def open_metadata_backend(
    name: str, tmp_path: Path, postgres_url: str | None = None
) -> Iterator[MetadataBackend]:
    """A fresh, empty backend of the given kind; everything is released on exit.

    "postgres" needs `postgres_url`, a database it may migrate and empty.
    """
    if name == "memory":
        memory = MemoryUnitOfWorkFactory()
        yield MetadataBackend(name, memory, memory.credential_lookup())
        return
    if name in ("sqlite", "postgres"):
        url = sqlite_url(tmp_path / "metadata.sqlite") if name == "sqlite" else postgres_url
        if url is None:
            raise ValueError("the postgres backend needs postgres_url")
        engine = create_metadata_engine(url)
        upgrade_to_head(engine)
        if name == "postgres":
            with engine.begin() as connection:
                tables = ", ".join(t.name for t in metadata.sorted_tables)
                connection.exec_driver_sql(f"TRUNCATE {tables} CASCADE")
        lookup = open_credential_lookup(url)
        try:
            yield MetadataBackend(name, SqlUnitOfWorkFactory(engine), lookup)
        finally:
            lookup.close()
            engine.dispose()
        return
    raise ValueError(f"unknown metadata backend {name!r}")


@dataclass(frozen=True)
class World:
    """Two tenants, each with a site, an asset, a profile, a device and a user; plus a platform admin."""

    a: Tenant
    b: Tenant
    site_a: Site
    site_b: Site
    asset_a: Asset
    asset_b: Asset
    profile_a: DeviceProfile
    profile_b: DeviceProfile
    device_a: Device
    device_b: Device
    user_a: User
    user_b: User
    admin: User


def seed_world(uow_factory: UnitOfWorkFactory) -> World:
    """Store and commit the World."""
    a, b = Tenant(id="t-a", name="Acme Compressors"), Tenant(id="t-b", name="Beta Foundry")
    keys = (
        TelemetryKeySpec("pressure_bar", unit="bar", min_value=0.0, max_value=16.0, precision=2),
        TelemetryKeySpec("energy_kwh", unit="kWh", kind=KeyKind.COUNTER, description="meter"),
        TelemetryKeySpec("state", kind=KeyKind.STATE),
    )
    world = World(
        a=a,
        b=b,
        site_a=Site(id="s-a", tenant_id=a.id, name="Plant A", latitude=31.2, longitude=121.5),
        site_b=Site(id="s-b", tenant_id=b.id, name="Plant B"),
        asset_a=Asset(id="as-a", tenant_id=a.id, site_id="s-a", name="Station 1", asset_type="station"),
        asset_b=Asset(id="as-b", tenant_id=b.id, site_id="s-b", name="Line 1", asset_type="line"),
        profile_a=DeviceProfile(id="p-a", tenant_id=a.id, name="compressor", keys=keys, strict=True),
        profile_b=DeviceProfile(id="p-b", tenant_id=b.id, name="compressor"),
        device_a=Device(
            id="d-a", tenant_id=a.id, name="C-101", profile_id="p-a", asset_id="as-a", token_hash="h-a"
        ),
        device_b=Device(id="d-b", tenant_id=b.id, name="C-101", profile_id="p-b", token_hash="h-b"),
        user_a=User(id="u-a", username="alice", role=Role.TENANT_ADMIN, tenant_id=a.id),
        user_b=User(id="u-b", username="bob", role=Role.OPERATOR, tenant_id=b.id),
        admin=User(id="u-root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None),
    )
    with uow_factory() as uow:
        uow.tenants.add(a)
        uow.tenants.add(b)
        for site in (world.site_a, world.site_b):
            uow.sites.add(site)
        for asset in (world.asset_a, world.asset_b):
            uow.assets.add(asset)
        for profile in (world.profile_a, world.profile_b):
            uow.profiles.add(profile)
        for device in (world.device_a, world.device_b):
            uow.devices.add(device)
        for user in (world.user_a, world.user_b, world.admin):
            uow.users.add(user)
        uow.commit()
    return world
