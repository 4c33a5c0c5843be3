"""Management handlers over memory fakes: roles, tenant scope, trees, devices, attributes, CSV, queries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.management_fixtures import (
    NOW_MS,
    PLATFORM_ADMIN,
    Harness,
    TenantWorld,
    build_harness,
    populate_tenant,
    principal,
)

from openiiot.domain.audit import AuditQuery
from openiiot.domain.credentials import token_matches
from openiiot.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from openiiot.domain.model import AttributeScope, Role
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.provisioning import MAX_FILE_BYTES, MAX_ROWS
from openiiot.services.telemetry_queries import parse_instant
from openiiot.storage.memory.telemetry import MemoryTelemetryStore


@pytest.fixture
def h() -> Harness:
    return build_harness()


@pytest.fixture
def a(h: Harness) -> TenantWorld:
    return populate_tenant(h.services, "alpha")


@pytest.fixture
def b(h: Harness) -> TenantWorld:
    return populate_tenant(h.services, "beta")


def _token_hash(h: Harness, device_id: str) -> str:
    with h.uow() as uow:
        return uow.devices.get(None, device_id).token_hash


# --- roles and tenant scope -------------------------------------------------------------------------


def test_viewer_reads_but_cannot_write(h: Harness, a: TenantWorld) -> None:
    viewer = principal(Role.VIEWER, a.tenant_id)
    assert h.services.devices.get(viewer, a.device_id).id == a.device_id
    with pytest.raises(PermissionDenied):
        h.services.devices.update(viewer, a.device_id, {"label": "x"})
    with pytest.raises(PermissionDenied):
        h.services.sites.create(viewer, {"name": "x"})
    with pytest.raises(PermissionDenied):
        h.services.attributes.set(viewer, a.device_id, AttributeScope.SERVER, {"k": 1})


def test_partner_sees_no_management_objects(h: Harness, a: TenantWorld) -> None:
    with pytest.raises(PermissionDenied):
        h.services.devices.get(principal(Role.PARTNER, a.tenant_id), a.device_id)


def test_other_tenants_objects_are_not_found(h: Harness, a: TenantWorld, b: TenantWorld) -> None:
    intruder = principal(Role.TENANT_ADMIN, b.tenant_id)
    s = h.services
    attempts = [
        lambda: s.tenants.get(intruder, a.tenant_id),
        lambda: s.tenants.update(intruder, a.tenant_id, {"name": "x"}),
        lambda: s.sites.get(intruder, a.site_id),
        lambda: s.assets.update(intruder, a.asset_id, {"name": "x"}),
        lambda: s.profiles.delete(intruder, a.profile_id),
        lambda: s.devices.get(intruder, a.device_id),
        lambda: s.devices.rotate_credentials(intruder, a.device_id),
        lambda: s.attributes.get(intruder, a.device_id, AttributeScope.SERVER),
        lambda: s.telemetry.latest(intruder, a.device_id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
    assert [t.id for t in s.tenants.list(intruder)] == [b.tenant_id]
    assert {d.id for d in s.devices.search(intruder).items} == {b.device_id}


def test_creating_in_another_tenant_is_refused(h: Harness, a: TenantWorld, b: TenantWorld) -> None:
    with pytest.raises(PermissionDenied):
        h.services.sites.create(
            principal(Role.TENANT_ADMIN, b.tenant_id), {"name": "x"}, tenant_id=a.tenant_id
        )
    with pytest.raises(ValidationFailed) as err:
        h.services.sites.create(PLATFORM_ADMIN, {"name": "x"})
    assert err.value.field == "tenant_id"


def test_references_to_another_tenants_objects_name_the_field(
    h: Harness, a: TenantWorld, b: TenantWorld
) -> None:
    admin_b = principal(Role.TENANT_ADMIN, b.tenant_id)
    with pytest.raises(ValidationFailed) as err:
        h.services.devices.create(admin_b, {"name": "x", "profile_id": a.profile_id})
    assert err.value.field == "profile_id"
    with pytest.raises(ValidationFailed) as err:
        h.services.devices.update(admin_b, b.device_id, {"asset_id": a.asset_id})
    assert err.value.field == "asset_id"


def test_tenant_admin_cannot_grant_platform_admin(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    with pytest.raises(PermissionDenied):
        h.services.users.create(admin, username="eve", password="long enough", role=Role.PLATFORM_ADMIN)
    user = h.services.users.create(admin, username="olga", password="long enough", role=Role.OPERATOR)
    assert user.tenant_id == a.tenant_id
    with pytest.raises(Conflict) as err:
        h.services.users.create(admin, username="olga", password="long enough", role=Role.VIEWER)
    assert err.value.field == "username"


def test_non_empty_tenant_cannot_be_deleted(h: Harness, a: TenantWorld) -> None:
    with pytest.raises(Conflict):
        h.services.tenants.delete(PLATFORM_ADMIN, a.tenant_id)


# --- sites and assets -----------------------------------------------------------------------------


def test_asset_tree_refuses_cycles_and_foreign_sites(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    line = h.services.assets.create(
        admin, site_id=a.site_id, values={"name": "line 1", "parent_id": a.asset_id}
    )
    machine = h.services.assets.create(admin, site_id=a.site_id, values={"name": "m1", "parent_id": line.id})
    assert [c.id for c in h.services.assets.children(admin, a.asset_id)] == [line.id]
    with pytest.raises(ValidationFailed) as err:
        h.services.assets.update(admin, a.asset_id, {"parent_id": machine.id})
    assert err.value.field == "parent_id"
    other_site = h.services.sites.create(admin, {"name": "second plant"})
    with pytest.raises(ValidationFailed):
        h.services.assets.create(admin, site_id=other_site.id, values={"name": "x", "parent_id": line.id})
    with pytest.raises(Conflict):
        h.services.assets.delete(admin, line.id)  # has a child


def test_operator_switches_maintenance_mode(h: Harness, a: TenantWorld) -> None:
    asset = h.services.assets.set_maintenance(principal(Role.OPERATOR, a.tenant_id), a.asset_id, True)
    assert asset.maintenance_mode
    with pytest.raises(PermissionDenied):
        h.services.assets.set_maintenance(principal(Role.TECHNICIAN, a.tenant_id), a.asset_id, False)


# --- profiles and devices -------------------------------------------------------------------------


def test_profile_update_invalidates_its_devices(h: Harness, a: TenantWorld) -> None:
    h.changed_devices.clear()
    profile = h.services.profiles.update(
        principal(Role.TENANT_ADMIN, a.tenant_id), a.profile_id, {"strict": True, "keys": [{"key": "flow"}]}
    )
    assert profile.strict and [k.key for k in profile.keys] == ["flow"]
    assert h.changed_devices == [a.device_id]


def test_profile_with_bad_kind_names_the_field(h: Harness, a: TenantWorld) -> None:
    with pytest.raises(ValidationFailed) as err:
        h.services.profiles.create(
            principal(Role.TENANT_ADMIN, a.tenant_id), {"name": "p", "keys": [{"key": "x", "kind": "weird"}]}
        )
    assert err.value.field == "keys.0.kind"


def test_device_token_is_stored_hashed_and_rotation_invalidates_the_old(h: Harness, a: TenantWorld) -> None:
    assert token_matches(a.device_token, _token_hash(h, a.device_id))
    h.changed_devices.clear()
    new_token = h.services.devices.rotate_credentials(principal(Role.TENANT_ADMIN, a.tenant_id), a.device_id)
    stored = _token_hash(h, a.device_id)
    assert token_matches(new_token, stored) and not token_matches(a.device_token, stored)
    assert h.changed_devices == [a.device_id]


def test_device_names_are_unique_per_tenant(h: Harness, a: TenantWorld, b: TenantWorld) -> None:
    with pytest.raises(Conflict) as err:
        h.services.devices.create(
            principal(Role.TENANT_ADMIN, a.tenant_id), {"name": "alpha-ac-1", "profile_id": a.profile_id}
        )
    assert err.value.field == "name"
    # the same name in another tenant is fine
    h.services.devices.create(
        principal(Role.TENANT_ADMIN, b.tenant_id), {"name": "alpha-ac-1", "profile_id": b.profile_id}
    )


def test_device_search_pages_and_counts(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    for i in range(12):
        h.services.devices.create(admin, {"name": f"pump-{i:02d}", "profile_id": a.profile_id})
    page = h.services.devices.search(admin, search="pump", offset=10, limit=5)
    assert page.total == 12 and [d.name for d in page.items] == ["pump-10", "pump-11"]
    assert h.services.devices.search(admin, limit=1).total == 13
    with pytest.raises(ValidationFailed) as err:
        h.services.devices.search(admin, limit=1001)
    assert err.value.field == "limit"


def test_only_a_device_flagged_as_gateway_has_children_and_the_flag_is_audited(
    h: Harness, a: TenantWorld
) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    devices = h.services.devices
    plain = devices.create(admin, {"name": "plain", "profile_id": a.profile_id}).device
    assert plain.is_gateway is False
    with pytest.raises(ValidationFailed) as err:
        devices.create(admin, {"name": "child", "profile_id": a.profile_id, "gateway_id": plain.id})
    assert err.value.field == "gateway_id" and "not a gateway" in str(err.value)

    gateway = devices.create(admin, {"name": "edge", "profile_id": a.profile_id, "is_gateway": True}).device
    child = devices.create(admin, {"name": "child", "profile_id": a.profile_id, "gateway_id": gateway.id})
    assert [d.id for d in devices.search(admin, gateway_id=gateway.id).items] == [child.device.id]
    # a gateway with children keeps the flag until they are moved away
    with pytest.raises(Conflict) as conflict:
        devices.update(admin, gateway.id, {"is_gateway": False})
    assert conflict.value.field == "is_gateway"
    assert devices.update(admin, plain.id, {"is_gateway": True}).is_gateway
    devices.update(admin, child.device.id, {"gateway_id": plain.id})
    assert devices.update(admin, gateway.id, {"is_gateway": False}).is_gateway is False

    entries = h.services.audit.search(admin, AuditQuery(object_id=gateway.id))
    assert sorted((e.action, e.details.get("is_gateway")) for e in entries) == [
        ("device.create", True),
        ("device.update", False),
    ]


def test_disable_and_delete_device(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    assert h.services.devices.set_disabled(admin, a.device_id, True).disabled
    batch = TelemetryBatch()
    batch.add(a.device_id, "pressure_bar", NOW_MS - 1000, 7.0)
    h.telemetry.append(batch)
    h.services.attributes.set(admin, a.device_id, AttributeScope.SERVER, {"room": "B2"})
    h.services.devices.delete(admin, a.device_id)
    with pytest.raises(NotFound):
        h.services.devices.get(admin, a.device_id)
    assert h.telemetry.latest([a.device_id]) in ({}, {a.device_id: {}})


# --- attributes -------------------------------------------------------------------------------------


def test_shared_attributes_are_pushed_and_client_ones_read_only(h: Harness, a: TenantWorld) -> None:
    tech = principal(Role.TECHNICIAN, a.tenant_id)
    h.services.attributes.set(tech, a.device_id, AttributeScope.SHARED, {"setpoint_bar": 7.5})
    h.services.attributes.set(tech, a.device_id, AttributeScope.SERVER, {"room": "B2"})
    assert h.shared_pushes == [(a.device_id, {"setpoint_bar": 7.5})]
    got = h.services.attributes.get(tech, a.device_id, AttributeScope.SHARED)
    assert [(x.key, x.value, x.updated_ms) for x in got] == [("setpoint_bar", 7.5, NOW_MS)]
    with pytest.raises(ValidationFailed) as err:
        h.services.attributes.set(tech, a.device_id, AttributeScope.CLIENT, {"fw": "1"})
    assert err.value.field == "scope"
    with pytest.raises(ValidationFailed):
        h.services.attributes.set(tech, a.device_id, AttributeScope.SERVER, {"bad key!": 1})


def test_a_condition_monitoring_attribute_with_a_mistake_is_refused(h: Harness, a: TenantWorld) -> None:
    """docs/condition-monitoring.md §2: a typo must be a 422 at once, not a setting the job skips silently."""
    tech = principal(Role.TECHNICIAN, a.tenant_id)
    good = {"condition_monitoring": {"healthy_hours": 24, "bearing": "6205"}}
    h.services.attributes.set(tech, a.device_id, AttributeScope.SERVER, good)
    for bad, field in (
        ({"healthy_hour": 24}, "condition_monitoring"),  # misspelt setting
        ({"bearing": "6666"}, "bearing"),  # unknown bearing
        ({"budget": 0.7}, "condition_monitoring"),  # out of range
        ("on", "condition_monitoring"),  # not an object
    ):
        with pytest.raises(ValidationFailed) as err:
            h.services.attributes.set(tech, a.device_id, AttributeScope.SERVER, {"condition_monitoring": bad})
        assert err.value.field == field
    stored = h.services.attributes.get(tech, a.device_id, AttributeScope.SERVER)
    assert [(x.key, x.value) for x in stored] == [("condition_monitoring", good["condition_monitoring"])]
    # a shared attribute of that name is the device's business, not the monitor's
    h.services.attributes.set(tech, a.device_id, AttributeScope.SHARED, {"condition_monitoring": "on"})


# --- telemetry queries ------------------------------------------------------------------------------


def _seed(h: Harness, device_id: str) -> None:
    batch = TelemetryBatch()
    for i in range(6):
        ts = NOW_MS - 3_600_000 + i * 600_000
        batch.add(device_id, "pressure_bar", ts, 6.0 + i)
        batch.add(device_id, "energy_kwh", ts, 100.0 + 10 * i)
    batch.add(device_id, "firmware", NOW_MS - 5, None, "v1.2.3")
    h.telemetry.append(batch)


def test_latest_raw_aggregate_and_consumption(h: Harness, a: TenantWorld) -> None:
    _seed(h, a.device_id)
    viewer = principal(Role.VIEWER, a.tenant_id)
    q = h.services.telemetry
    latest = q.latest(viewer, a.device_id, ["pressure_bar", "firmware"])
    assert latest["pressure_bar"].value == 11.0 and latest["firmware"].text == "v1.2.3"
    page = q.raw(viewer, a.device_id, keys=["pressure_bar"], limit=4)
    assert [p.value for p in page.points] == [6.0, 7.0, 8.0, 9.0] and page.next_cursor
    rest = q.raw(viewer, a.device_id, keys=["pressure_bar"], limit=4, cursor=page.next_cursor)
    assert [p.value for p in rest.points] == [10.0, 11.0]
    start = str(NOW_MS - 3_600_000)
    rows = q.aggregate(
        viewer, a.device_id, keys=["pressure_bar"], interval="1h", aggregates=["max", "avg"], start=start
    )
    assert sum(r.count for r in rows["pressure_bar"]) == 6
    assert max(r.values["max"] or 0 for r in rows["pressure_bar"]) == 11.0
    used = q.consumption(viewer, a.device_id, key="energy_kwh", interval="1d", start=start)
    assert sum(r.delta for r in used) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval": "7x"}, "interval"),
        ({"interval": "1h", "aggregates": ["median"]}, "agg"),
        ({"interval": "1h", "start": "2025-06-02", "end": "2025-06-01"}, "end"),
        ({"interval": "1h", "start": "yesterday"}, "start"),
        ({"interval": "1s", "start": "0"}, "interval"),  # too many buckets
        ({"interval": "1h", "keys": ["firmware"]}, "keys"),  # text key
    ],
)
def test_bad_aggregate_queries_name_the_field(h: Harness, a: TenantWorld, kwargs: dict, field: str) -> None:
    args = {"keys": ["pressure_bar"], **kwargs}
    with pytest.raises(ValidationFailed) as err:
        h.services.telemetry.aggregate(principal(Role.VIEWER, a.tenant_id), a.device_id, **args)
    assert err.value.field == field


def test_consumption_refuses_non_counter_keys(h: Harness, a: TenantWorld) -> None:
    with pytest.raises(ValidationFailed) as err:
        h.services.telemetry.consumption(principal(Role.VIEWER, a.tenant_id), a.device_id, key="pressure_bar")
    assert err.value.field == "key"


def test_naive_iso_times_are_tenant_local() -> None:
    # Asia/Shanghai is UTC+8: local midnight is 16:00 UTC the day before
    expected = int(datetime(2025, 5, 31, 16, tzinfo=UTC).timestamp() * 1000)
    assert parse_instant("2025-06-01T00:00:00", "start", "Asia/Shanghai") == expected
    assert parse_instant("2025-06-01T00:00:00+08:00", "start", "UTC") == expected


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_epoch_and_iso_forms_agree(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
    ms = int((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    assert parse_instant(aware.isoformat(), "start", "Asia/Shanghai") == ms
    assert parse_instant(str(ms), "start", "Asia/Shanghai") == ms


# --- bulk provisioning ------------------------------------------------------------------------------


def test_csv_creates_valid_rows_and_reports_the_others(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    csv_bytes = (
        "name,profile,label,asset\n"
        "ac-2,air compressor,north,compressor station\n"  # by names
        f"ac-3,{a.profile_id},,{a.asset_id}\n"  # by ids
        ",air compressor,,\n"  # missing name
        "ac-4,no such profile,,\n"
        "alpha-ac-1,air compressor,,\n"  # exists already
        "ac-2,air compressor,,\n"  # duplicate within the file
        "ac-5,air compressor,,nowhere\n"
        "\n"
    ).encode() + b"ac-\xff\xfe,air compressor,,\n"
    report = h.services.provisioning.provision_csv(admin, csv_bytes)
    assert [(c.row, c.name) for c in report.created] == [(2, "ac-2"), (3, "ac-3")]
    assert [(e.row, e.field) for e in report.errors] == [
        (4, "name"),
        (5, "profile"),
        (6, "name"),
        (7, "name"),
        (8, "asset"),
        (10, "name"),
    ]
    assert "UTF-8" in report.errors[-1].reason
    created = h.services.devices.get(admin, report.created[0].device_id)
    assert created.label == "north" and created.asset_id == a.asset_id
    assert token_matches(report.created[0].access_token, _token_hash(h, created.id))


def test_csv_marks_gateways_in_an_optional_column(h: Harness, a: TenantWorld) -> None:
    admin = principal(Role.TENANT_ADMIN, a.tenant_id)
    csv_bytes = (
        b"name,profile,gateway\nedge-1,air compressor,yes\nac-9,air compressor,\nac-10,air compressor,maybe\n"
    )
    report = h.services.provisioning.provision_csv(admin, csv_bytes)
    flags = {c.name: h.services.devices.get(admin, c.device_id).is_gateway for c in report.created}
    assert flags == {"edge-1": True, "ac-9": False}
    assert [(e.row, e.field) for e in report.errors] == [(4, "gateway")]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"name,label\nx,y\n", "profile"),
        (b"", "file"),
        (b"\xff\xfe,profile\n", "file"),
        (b"name,profile\n" + b"d,p\n" * (MAX_ROWS + 1), "file"),
        (b"name,profile\n" + b"x" * MAX_FILE_BYTES, "file"),
    ],
)
def test_csv_file_level_faults(h: Harness, a: TenantWorld, data: bytes, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        h.services.provisioning.provision_csv(principal(Role.TENANT_ADMIN, a.tenant_id), data)
    assert err.value.field == field
    assert h.services.devices.search(principal(Role.VIEWER, a.tenant_id)).total == 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet='abc, "\n', max_size=6), max_size=12))
def test_every_csv_row_is_either_created_or_reported(names: list[str]) -> None:
    h = build_harness()
    world = populate_tenant(h.services, "prop")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "profile"])
    for name in names:
        writer.writerow([name, "air compressor"])
    report = h.services.provisioning.provision_csv(
        principal(Role.TENANT_ADMIN, world.tenant_id), buffer.getvalue().encode()
    )
    rows = [c.row for c in report.created] + [e.row for e in report.errors]
    # every row names the profile, so none is blank; rows count records, so quoted newlines do not shift them
    assert sorted(rows) == [i + 2 for i in range(len(names))]
    created_names = [c.name for c in report.created]
    assert len(created_names) == len(set(created_names))


# --- health -----------------------------------------------------------------------------------------


class _BrokenStore(MemoryTelemetryStore):
    def latest(self, device_ids: object, keys: object = None) -> dict:
        raise OSError("disk gone")


def test_health_reports_an_unreachable_store() -> None:
    h = build_harness(telemetry=_BrokenStore())
    assert h.services.health.check() == {"metadata": True, "telemetry": False}
