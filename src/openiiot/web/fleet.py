"""What the fleet pages show: one status word per device, counts by tenant, site and region, table rows.

`console_status` is the single place that turns connectivity into the console's status word, so a richer
connectivity model changes one function.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openiiot.domain.connectivity import Status
from openiiot.domain.model import Asset, Device, DeviceProfile, Principal
from openiiot.services.management import Services

#: the console's status words, in the order the summary shows them
STATUSES = ("connected", "inactive", "never-seen")
MAX_ALARM_SCAN = 10_000  # open alarms read for the "in alarm" counts
_NAMES_PER_QUERY = 1000  # the device search's largest page


def console_status(connectivity_status: str) -> str:
    """The console's word for a connectivity status: connected, inactive or never-seen."""
    if connectivity_status == Status.ACTIVE.value:
        return "connected"
    if connectivity_status == Status.NEVER_SEEN.value:
        return "never-seen"
    return "inactive"  # connected-inactive and disconnected: nothing received within the timeout


@dataclass
class GroupCounts:
    """Device counts of one tenant, site or region."""

    key: str
    name: str
    by_status: Counter[str] = field(default_factory=Counter)
    in_alarm: int = 0

    @property
    def total(self) -> int:
        """All devices of the group."""
        return sum(self.by_status.values())


@dataclass
class FleetSummary:
    """Counts for the whole visible fleet and per tenant, site and region."""

    total: GroupCounts
    tenants: list[GroupCounts]
    sites: list[GroupCounts]
    regions: list[GroupCounts]


def _add(groups: dict[str, GroupCounts], key: str, name: str, counts: dict[str, int]) -> None:
    group = groups.setdefault(key, GroupCounts(key, name))
    for raw_status, n in counts.items():
        group.by_status[console_status(raw_status)] += n


def fleet_summary(services: Services, principal: Principal) -> FleetSummary:
    """Counts by status (connected, inactive, in alarm) by tenant, site and region."""
    tenants = {t.id: t for t in services.tenants.list(principal, limit=1000)}
    sites = {s.id: s.name for s in services.sites.list(principal, limit=1000)}
    counted = services.connectivity.summaries(principal)
    total = GroupCounts("all", "")
    for raw_status, n in counted["by_status"].items():
        total.by_status[console_status(raw_status)] += n
    tenant_groups: dict[str, GroupCounts] = {}
    region_groups: dict[str, GroupCounts] = {}
    for tenant_id, counts in counted["tenant"].items():
        tenant = tenants.get(tenant_id)
        _add(tenant_groups, tenant_id, tenant.name if tenant else tenant_id, counts)
        region = (tenant.region_code if tenant else None) or "none"
        _add(region_groups, region, region, counts)
    site_groups: dict[str, GroupCounts] = {}
    for site_id, counts in counted["site"].items():
        _add(site_groups, site_id, sites.get(site_id, ""), counts)
    # devices with an open alarm, attributed to their tenant, site and region
    alarmed = _devices_in_alarm(services, principal)
    asset_site: dict[str, str] = {}
    for device in alarmed:
        total.in_alarm += 1
        if device.tenant_id in tenant_groups:
            tenant_groups[device.tenant_id].in_alarm += 1
        tenant = tenants.get(device.tenant_id)
        region = (tenant.region_code if tenant else None) or "none"
        if region in region_groups:
            region_groups[region].in_alarm += 1
        site = _site_of(services, principal, device, asset_site)
        if site in site_groups:
            site_groups[site].in_alarm += 1
    return FleetSummary(total, _ordered(tenant_groups), _ordered(site_groups), _ordered(region_groups))


def _ordered(groups: dict[str, GroupCounts]) -> list[GroupCounts]:
    return sorted(groups.values(), key=lambda g: (g.name or "~", g.key))


def _site_of(services: Services, principal: Principal, device: Device, cache: dict[str, str]) -> str:
    if device.asset_id is None:
        return "none"
    if device.asset_id not in cache:
        cache[device.asset_id] = services.assets.get(principal, device.asset_id).site_id
    return cache[device.asset_id]


def _devices_in_alarm(services: Services, principal: Principal) -> list[Device]:
    ids: set[str] = set()
    offset = 0
    while offset < MAX_ALARM_SCAN:
        page = services.alarms.list_alarms(principal, active=True, offset=offset, limit=500)
        ids.update(a.originator_id for a in page)
        offset += len(page)
        if len(page) < 500:
            break
    devices: list[Device] = []  # an alarm of a deleted device counts for no device
    while ids and len(devices) < MAX_ALARM_SCAN:
        found = services.devices.search(principal, ids=ids, offset=len(devices), limit=500).items
        devices.extend(found)
        if len(found) < 500:
            break
    return devices


def device_names(services: Services, principal: Principal, ids: Iterable[str | None]) -> dict[str, str]:
    """Names of the caller's devices among `ids`, in one query per 1,000 ids; a deleted or foreign device is
    left out (pages then show its id)."""
    wanted = sorted({i for i in ids if i})
    names: dict[str, str] = {}
    for start in range(0, len(wanted), _NAMES_PER_QUERY):
        chunk = wanted[start : start + _NAMES_PER_QUERY]
        names.update(
            (d.id, d.name)
            for d in services.devices.search(principal, ids=chunk, limit=_NAMES_PER_QUERY).items
        )
    return names


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One line of the device table."""

    device: Device
    profile_name: str
    asset_name: str
    status: str
    last_activity_ms: int | None
    open_alarms: int


def device_rows(services: Services, principal: Principal, devices: list[Device]) -> list[DeviceRow]:
    """Table rows for one page of devices: profile, asset, status, last activity and open alarms."""
    profiles: dict[str, DeviceProfile] = {}
    assets: dict[str, Asset | None] = {}
    rows = []
    for device in devices:
        if device.profile_id not in profiles:
            profiles[device.profile_id] = services.profiles.get(principal, device.profile_id)
        if device.asset_id and device.asset_id not in assets:
            try:
                assets[device.asset_id] = services.assets.get(principal, device.asset_id)
            except Exception:
                assets[device.asset_id] = None
        asset = assets.get(device.asset_id) if device.asset_id else None
        conn: dict[str, Any] = services.connectivity.get(principal, device.id)
        alarms = services.alarms.list_alarms(principal, active=True, device_id=device.id, limit=100)
        rows.append(
            DeviceRow(
                device=device,
                profile_name=profiles[device.profile_id].name,
                asset_name=asset.name if asset else "",
                status=console_status(str(conn["status"])),
                last_activity_ms=conn["last_activity_ms"],
                open_alarms=len(alarms),
            )
        )
    return rows


def group_devices_by_asset(devices: list[Device]) -> dict[str | None, list[Device]]:
    """Devices keyed by their asset id (None: not placed on an asset)."""
    grouped: dict[str | None, list[Device]] = defaultdict(list)
    for device in devices:
        grouped[device.asset_id].append(device)
    return grouped
