"""Management services over the in-memory fakes, with a settable clock and recorded callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from openiiot.domain.model import Principal, Role
from openiiot.services.auth import PasswordHashing
from openiiot.services.management import Services, build_services
from openiiot.services.ports import TelemetryStore, UnitOfWorkFactory
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.memory.telemetry import MemoryTelemetryStore

JWT_SECRET = "unit-test-secret-0123456789abcdef-0123456789"
NOW_MS = 1_750_000_000_000  # 2025-06-15


def cheap_passwords() -> PasswordHashing:
    """argon2 with the smallest parameters: the same code path, a thousand times faster."""
    return PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: int = NOW_MS

    def now_ms(self) -> int:
        """The current fake time."""
        return self.now


@dataclass
class Harness:
    """Services plus what a test needs to look behind them."""

    services: Services
    uow: UnitOfWorkFactory
    telemetry: TelemetryStore
    clock: FakeClock
    changed_devices: list[str] = field(default_factory=list)
    shared_pushes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def build_harness(
    uow: UnitOfWorkFactory | None = None, telemetry: TelemetryStore | None = None, ttl_s: int = 900
) -> Harness:
    """Services wired to memory fakes (or the given stores), recording their callbacks."""
    clock = FakeClock()
    changed: list[str] = []
    pushes: list[tuple[str, dict[str, Any]]] = []
    store = telemetry or MemoryTelemetryStore()
    factory = uow or MemoryUnitOfWorkFactory()
    services = build_services(
        factory,
        store,
        clock,
        JWT_SECRET,
        ttl_s,
        on_device_changed=changed.append,
        on_shared_attributes=lambda device_id, values: pushes.append((device_id, values)),
        passwords=cheap_passwords(),
    )
    return Harness(services, factory, store, clock, changed, pushes)


PLATFORM_ADMIN = Principal(user_id="root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None)


def principal(role: Role, tenant_id: str, user_id: str = "someone") -> Principal:
    """A caller of the given role in a tenant (not backed by a user record)."""
    return Principal(user_id=user_id, username=user_id, role=role, tenant_id=tenant_id)


@dataclass
class TenantWorld:
    """One tenant with a site, an asset, a profile and a device."""

    tenant_id: str
    site_id: str
    asset_id: str
    profile_id: str
    device_id: str
    device_token: str


def populate_tenant(services: Services, name: str) -> TenantWorld:
    """Create a tenant and one of each object in it, as its platform admin would."""
    tenant = services.tenants.create(PLATFORM_ADMIN, {"name": name, "timezone": "Asia/Shanghai"})
    admin = principal(Role.TENANT_ADMIN, tenant.id)
    site = services.sites.create(admin, {"name": f"{name} plant"})
    asset = services.assets.create(admin, site_id=site.id, values={"name": "compressor station"})
    profile = services.profiles.create(
        admin,
        {
            "name": "air compressor",
            "keys": [
                {"key": "pressure_bar", "unit": "bar", "min_value": 0, "max_value": 16},
                {"key": "energy_kwh", "unit": "kWh", "kind": "counter"},
                {"key": "firmware", "kind": "text"},
            ],
        },
    )
    created = services.devices.create(
        admin, {"name": f"{name}-ac-1", "profile_id": profile.id, "asset_id": asset.id}
    )
    return TenantWorld(tenant.id, site.id, asset.id, profile.id, created.device.id, created.access_token)
