"""Dict-based metadata repositories with the same rules as the SQL ones, for the in-memory unit of work."""

from __future__ import annotations

import builtins
import dataclasses
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from openiiot.domain.audit import AuditEntry
from openiiot.domain.commands import Command
from openiiot.domain.connectivity import ConnectivityEvent, DeviceConnectivity
from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.grants import Grant
from openiiot.domain.model import (
    ApiKey,
    Asset,
    Attribute,
    AttributeScope,
    Device,
    DeviceProfile,
    Site,
    Tenant,
    User,
)
from openiiot.domain.notification_deliveries import Delivery, DeliveryAttempt
from openiiot.domain.notifications import NotificationRule
from openiiot.domain.workorders import WorkOrder

T = TypeVar("T")
AttributeKey = tuple[str, str, str]  # (device_id, scope, key)


@dataclasses.dataclass
class MetadataTables:
    """Every metadata table as a dict by primary key; values are immutable domain objects."""

    tenants: dict[str, Tenant] = dataclasses.field(default_factory=dict)
    sites: dict[str, Site] = dataclasses.field(default_factory=dict)
    assets: dict[str, Asset] = dataclasses.field(default_factory=dict)
    profiles: dict[str, DeviceProfile] = dataclasses.field(default_factory=dict)
    devices: dict[str, Device] = dataclasses.field(default_factory=dict)
    attributes: dict[AttributeKey, Attribute] = dataclasses.field(default_factory=dict)
    users: dict[str, User] = dataclasses.field(default_factory=dict)
    api_keys: dict[str, ApiKey] = dataclasses.field(default_factory=dict)
    alarm_rules: dict[str, Any] = dataclasses.field(default_factory=dict)
    alarm_states: dict[Any, Any] = dataclasses.field(default_factory=dict)
    alarm_state_versions: dict[Any, int] = dataclasses.field(default_factory=dict)
    # (originator, rule, series, seq) -> the chunk's items as JSON text
    alarm_window_chunks: dict[tuple[str, str, str, int], str] = dataclasses.field(default_factory=dict)
    alarms: dict[str, Any] = dataclasses.field(default_factory=dict)
    notification_rules: dict[str, NotificationRule] = dataclasses.field(default_factory=dict)
    notification_deliveries: dict[str, Delivery] = dataclasses.field(default_factory=dict)
    notification_attempts: dict[str, DeliveryAttempt] = dataclasses.field(default_factory=dict)
    audit: dict[str, AuditEntry] = dataclasses.field(default_factory=dict)
    connectivity_states: dict[str, DeviceConnectivity] = dataclasses.field(default_factory=dict)
    connectivity_events: dict[str, ConnectivityEvent] = dataclasses.field(default_factory=dict)
    commands: dict[str, Command] = dataclasses.field(default_factory=dict)
    work_orders: dict[str, WorkOrder] = dataclasses.field(default_factory=dict)
    grants: dict[str, Grant] = dataclasses.field(default_factory=dict)

    def tables(self) -> dict[str, dict[Any, Any]]:
        """The tables by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def copy(self) -> MetadataTables:
        """A copy whose dicts change independently (values are frozen, so shallow is enough)."""
        return MetadataTables(**{name: dict(table) for name, table in self.tables().items()})


def page(items: Iterable[T], sort_key: Callable[[T], Any], offset: int, limit: int) -> list[T]:
    """One page of the items in a stable order."""
    if offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
    if limit < 0:
        raise ValidationFailed("limit must not be negative", field="limit")
    return sorted(items, key=sort_key)[offset : offset + limit]


def by_name(obj: Any) -> tuple[str, str]:
    """Sort key: name, then id (the SQL repositories' order)."""
    return (obj.name, obj.id)


def in_scope(obj_tenant: str | None, tenant_id: str | None) -> bool:
    """True when an object of `obj_tenant` is visible in the scope (None: every tenant)."""
    return tenant_id is None or obj_tenant == tenant_id


def scoped_get(table: dict[str, T], kind: str, tenant_id: str | None, ident: str) -> T:
    """The object, or NotFound when it is missing or belongs to another tenant."""
    obj = table.get(ident)
    if obj is None or (tenant_id is not None and obj.tenant_id != tenant_id):  # type: ignore[attr-defined]
        raise NotFound(kind, ident)
    return obj


def check_new(table: dict[str, Any], kind: str, ident: str) -> None:
    """Conflict when the id is already taken."""
    if ident in table:
        raise Conflict(f"{kind} {ident} already exists", field="id")


class MemoryRepository:
    """Base of the in-memory repositories: they work on the unit of work's private copy of the tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables


class MemoryTenantRepository(MemoryRepository):
    """Tenants in memory."""

    def add(self, tenant: Tenant) -> None:
        """Store a new tenant."""
        check_new(self._t.tenants, "tenant", tenant.id)
        self._t.tenants[tenant.id] = tenant

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or NotFound."""
        return scoped_get(self._t.tenants, "tenant", None, tenant_id)

    def list(self, *, offset: int = 0, limit: int = 100) -> list[Tenant]:
        """Tenants ordered by name."""
        return page(self._t.tenants.values(), by_name, offset, limit)

    def update(self, tenant: Tenant) -> None:
        """Replace a tenant."""
        scoped_get(self._t.tenants, "tenant", None, tenant.id)
        self._t.tenants[tenant.id] = tenant

    def delete(self, tenant_id: str) -> None:
        """Delete an empty tenant; Conflict while anything still belongs to it."""
        scoped_get(self._t.tenants, "tenant", None, tenant_id)
        dependants: dict[str, Iterable[Any]] = {
            "sites": self._t.sites.values(),
            "profiles": self._t.profiles.values(),
            "devices": self._t.devices.values(),
            "users": self._t.users.values(),
        }
        for what, objects in dependants.items():
            if any(obj.tenant_id == tenant_id for obj in objects):
                raise Conflict(f"tenant {tenant_id} still has {what}; delete them first", field=what)
        del self._t.tenants[tenant_id]


class MemorySiteRepository(MemoryRepository):
    """Sites in memory."""

    def add(self, site: Site) -> None:
        """Store a new site of an existing tenant."""
        check_new(self._t.sites, "site", site.id)
        scoped_get(self._t.tenants, "tenant", None, site.tenant_id)
        self._t.sites[site.id] = site

    def get(self, tenant_id: str | None, site_id: str) -> Site:
        """The site, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.sites, "site", tenant_id, site_id)

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[Site]:
        """Sites in the scope ordered by name."""
        items = (s for s in self._t.sites.values() if in_scope(s.tenant_id, tenant_id))
        return page(items, by_name, offset, limit)

    def update(self, site: Site) -> None:
        """Replace a site; its tenant cannot change."""
        scoped_get(self._t.sites, "site", site.tenant_id, site.id)
        self._t.sites[site.id] = site

    def delete(self, tenant_id: str | None, site_id: str) -> None:
        """Delete a site without assets."""
        scoped_get(self._t.sites, "site", tenant_id, site_id)
        if any(a.site_id == site_id for a in self._t.assets.values()):
            raise Conflict(f"site {site_id} still has assets; delete them first", field="assets")
        del self._t.sites[site_id]


class MemoryAssetRepository(MemoryRepository):
    """Assets in memory."""

    def add(self, asset: Asset) -> None:
        """Store a new asset under a site of the same tenant."""
        check_new(self._t.assets, "asset", asset.id)
        scoped_get(self._t.sites, "site", asset.tenant_id, asset.site_id)
        self._check_parent(asset)
        self._t.assets[asset.id] = asset

    def get(self, tenant_id: str | None, asset_id: str) -> Asset:
        """The asset, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.assets, "asset", tenant_id, asset_id)

    def list(
        self,
        tenant_id: str | None,
        *,
        site_id: str | None = None,
        parent_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Asset]:
        """Assets in the scope ordered by name; `site_id` and `parent_id` filter when given."""
        items = (
            a
            for a in self._t.assets.values()
            if in_scope(a.tenant_id, tenant_id)
            and (site_id is None or a.site_id == site_id)
            and (parent_id is None or a.parent_id == parent_id)
        )
        return page(items, by_name, offset, limit)

    def update(self, asset: Asset) -> None:
        """Replace an asset; it cannot move to another site."""
        old = scoped_get(self._t.assets, "asset", asset.tenant_id, asset.id)
        if old.site_id != asset.site_id:
            raise ValidationFailed("an asset cannot move to another site", field="site_id")
        self._check_parent(asset)
        self._t.assets[asset.id] = asset

    def delete(self, tenant_id: str | None, asset_id: str) -> None:
        """Delete a leaf asset without devices."""
        scoped_get(self._t.assets, "asset", tenant_id, asset_id)
        if any(a.parent_id == asset_id for a in self._t.assets.values()):
            raise Conflict(f"asset {asset_id} still has child assets", field="children")
        if any(d.asset_id == asset_id for d in self._t.devices.values()):
            raise Conflict(f"asset {asset_id} still has devices", field="devices")
        del self._t.assets[asset_id]

    def _check_parent(self, asset: Asset) -> None:
        parent_id = asset.parent_id
        while parent_id is not None:
            parent = scoped_get(self._t.assets, "asset", asset.tenant_id, parent_id)
            if parent.site_id != asset.site_id:
                raise ValidationFailed("the parent asset belongs to another site", field="parent_id")
            if parent.parent_id == asset.id:
                raise ValidationFailed("the parent would become a child of this asset", field="parent_id")
            parent_id = parent.parent_id


class MemoryProfileRepository(MemoryRepository):
    """Device profiles in memory."""

    def add(self, profile: DeviceProfile) -> None:
        """Store a new profile; Conflict when its name is taken in the tenant."""
        check_new(self._t.profiles, "profile", profile.id)
        scoped_get(self._t.tenants, "tenant", None, profile.tenant_id)
        self._check_name(profile)
        self._t.profiles[profile.id] = profile

    def get(self, tenant_id: str | None, profile_id: str) -> DeviceProfile:
        """The profile, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.profiles, "profile", tenant_id, profile_id)

    def get_by_name(self, tenant_id: str, name: str) -> DeviceProfile:
        """The tenant's profile of that name, or NotFound."""
        for p in self._t.profiles.values():
            if p.tenant_id == tenant_id and p.name == name:
                return p
        raise NotFound("profile", name)

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[DeviceProfile]:
        """Profiles in the scope ordered by name."""
        items = (p for p in self._t.profiles.values() if in_scope(p.tenant_id, tenant_id))
        return page(items, by_name, offset, limit)

    def update(self, profile: DeviceProfile) -> None:
        """Replace a profile; its tenant cannot change."""
        scoped_get(self._t.profiles, "profile", profile.tenant_id, profile.id)
        self._check_name(profile)
        self._t.profiles[profile.id] = profile

    def delete(self, tenant_id: str | None, profile_id: str) -> None:
        """Delete a profile no device uses."""
        scoped_get(self._t.profiles, "profile", tenant_id, profile_id)
        if any(d.profile_id == profile_id for d in self._t.devices.values()):
            raise Conflict(f"profile {profile_id} is used by devices", field="devices")
        del self._t.profiles[profile_id]

    def _check_name(self, profile: DeviceProfile) -> None:
        for p in self._t.profiles.values():
            if p.tenant_id == profile.tenant_id and p.name == profile.name and p.id != profile.id:
                raise Conflict(f"a profile named {profile.name!r} already exists", field="name")


class MemoryDeviceRepository(MemoryRepository):
    """Devices in memory."""

    def add(self, device: Device) -> None:
        """Store a new device; its profile, asset and gateway must be in its tenant."""
        check_new(self._t.devices, "device", device.id)
        self._check_references(device)
        self._t.devices[device.id] = device

    def get(self, tenant_id: str | None, device_id: str) -> Device:
        """The device, or NotFound when it does not exist in the scope."""
        return scoped_get(self._t.devices, "device", tenant_id, device_id)

    def get_by_name(self, tenant_id: str, name: str) -> Device:
        """The tenant's device of that name, or NotFound."""
        for d in self._t.devices.values():
            if d.tenant_id == tenant_id and d.name == name:
                return d
        raise NotFound("device", name)

    def list(
        self,
        tenant_id: str | None,
        *,
        asset_id: str | None = None,
        profile_id: str | None = None,
        search: str | None = None,
        ids: Collection[str] | None = None,
        gateway_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Device]:
        """Devices in the scope ordered by name; `search` matches name or label, ignoring case; `gateway_id`
        keeps that gateway's children."""
        return page(
            self._matching(tenant_id, asset_id, profile_id, search, ids, gateway_id), by_name, offset, limit
        )

    def count(
        self,
        tenant_id: str | None,
        *,
        asset_id: str | None = None,
        profile_id: str | None = None,
        search: str | None = None,
        ids: Collection[str] | None = None,
        gateway_id: str | None = None,
    ) -> int:
        """How many devices of the scope match the filters."""
        return sum(1 for _ in self._matching(tenant_id, asset_id, profile_id, search, ids, gateway_id))

    def _matching(
        self,
        tenant_id: str | None,
        asset_id: str | None,
        profile_id: str | None,
        search: str | None,
        ids: Collection[str] | None,
        gateway_id: str | None = None,
    ) -> Iterator[Device]:
        needle = (search or "").lower()
        wanted = None if ids is None else set(ids)
        return (
            d
            for d in self._t.devices.values()
            if in_scope(d.tenant_id, tenant_id)
            and (asset_id is None or d.asset_id == asset_id)
            and (profile_id is None or d.profile_id == profile_id)
            and (needle in d.name.lower() or needle in d.label.lower())
            and (wanted is None or d.id in wanted)
            and (gateway_id is None or d.gateway_id == gateway_id)
        )

    def ids_of_tenant(self, tenant_id: str) -> builtins.list[str]:
        """Ids of every device of the tenant, sorted."""
        return sorted(d.id for d in self._t.devices.values() if d.tenant_id == tenant_id)

    def placements(self, tenant_id: str | None) -> builtins.list[tuple[str, str, str | None, str | None]]:
        """(id, tenant, asset, gateway) of every device in the scope."""
        return [
            (d.id, d.tenant_id, d.asset_id, d.gateway_id)
            for d in self._t.devices.values()
            if in_scope(d.tenant_id, tenant_id)
        ]

    def update(self, device: Device) -> None:
        """Replace a device; its tenant cannot change."""
        scoped_get(self._t.devices, "device", device.tenant_id, device.id)
        self._check_references(device)
        self._t.devices[device.id] = device

    def delete(self, tenant_id: str | None, device_id: str) -> None:
        """Delete a device and its attributes; Conflict while it is the gateway of other devices."""
        scoped_get(self._t.devices, "device", tenant_id, device_id)
        if any(d.gateway_id == device_id for d in self._t.devices.values()):
            raise Conflict(f"device {device_id} is the gateway of other devices", field="gateway_id")
        for key in [k for k in self._t.attributes if k[0] == device_id]:
            del self._t.attributes[key]
        del self._t.devices[device_id]

    def _check_references(self, device: Device) -> None:
        tenant_id = device.tenant_id
        scoped_get(self._t.tenants, "tenant", None, tenant_id)
        scoped_get(self._t.profiles, "profile", tenant_id, device.profile_id)
        if device.asset_id is not None:
            scoped_get(self._t.assets, "asset", tenant_id, device.asset_id)
        if device.gateway_id is not None:
            scoped_get(self._t.devices, "device", tenant_id, device.gateway_id)
        for d in self._t.devices.values():
            if d.tenant_id == tenant_id and d.name == device.name and d.id != device.id:
                raise Conflict(f"a device named {device.name!r} already exists", field="name")


class MemoryAttributeRepository(MemoryRepository):
    """Device attributes in memory."""

    def upsert(self, attributes: Sequence[Attribute]) -> None:
        """Insert or replace values; the last write of a (device, scope, key) wins."""
        for a in attributes:
            try:
                json.dumps(a.value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValidationFailed(
                    f"attribute {a.key}: the value is not JSON ({exc})", field="value"
                ) from exc
        for device_id in sorted({a.device_id for a in attributes} - self._t.devices.keys()):
            raise NotFound("device", device_id)
        for a in attributes:
            self._t.attributes[(a.device_id, a.scope.value, a.key)] = a

    def list(self, device_id: str, scope: AttributeScope | None = None) -> list[Attribute]:
        """The device's attributes, of one scope or all, ordered by scope and key."""
        items = [
            a
            for (d, s, _), a in self._t.attributes.items()
            if d == device_id and (scope is None or s == scope.value)
        ]
        return sorted(items, key=lambda a: (a.scope.value, a.key))

    def delete(self, device_id: str, scope: AttributeScope, key: str) -> None:
        """Remove one attribute; NotFound when it is not there."""
        if self._t.attributes.pop((device_id, scope.value, key), None) is None:
            raise NotFound("attribute", f"{device_id}/{scope.value}/{key}")
