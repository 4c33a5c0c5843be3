"""The connectivity service over memory fakes: status from sessions and activity, inactivity stamped at
the timeout, transitions kept as events, state surviving a restart, and tenants kept apart."""

from __future__ import annotations

import pytest
from tests.unit.management_fixtures import (
    NOW_MS,
    Harness,
    TenantWorld,
    build_harness,
    populate_tenant,
    principal,
)

from openiiot.domain.connectivity import Status
from openiiot.domain.errors import NotFound
from openiiot.domain.model import Role
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory

TIMEOUT_S = 600  # the fixture profile's default inactivity timeout


@pytest.fixture
def world() -> tuple[Harness, TenantWorld, ConnectivityService]:
    harness = build_harness()
    tenant = populate_tenant(harness.services, "acme")
    service = ConnectivityService(harness.uow, DeviceDirectory(harness.uow), harness.clock)
    return harness, tenant, service


def test_activity_then_silence_then_a_new_message(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, service = world
    viewer = principal(Role.VIEWER, tenant.tenant_id)
    device = tenant.device_id
    assert service.get(viewer, device)["status"] == "never-seen"
    service.activity({device: NOW_MS})
    service.activity({device: NOW_MS + 5_000})  # the fast path: already active
    assert service.get(viewer, device)["status"] == "active"
    assert service.get(viewer, device)["connected"] is None  # HTTP-only so far: no session at all

    harness.clock.now = NOW_MS + 5_000 + TIMEOUT_S * 1000 - 1
    service.check()
    assert service.get(viewer, device)["active"] is True
    harness.clock.now = NOW_MS + 5_000 + TIMEOUT_S * 1000 + 30_000  # the check runs late
    service.check()
    assert service.get(viewer, device)["status"] == "disconnected"
    service.activity({device: harness.clock.now})
    kinds = [(e.kind.value, e.ts_ms) for e in reversed(service.events(viewer, device))]
    assert kinds == [
        ("active", NOW_MS),
        ("inactive", NOW_MS + 5_000 + TIMEOUT_S * 1000),  # when the timeout expired, not when checked
        ("active", harness.clock.now),
    ]


def test_a_session_without_data_is_connected_but_inactive(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    _harness, tenant, service = world
    viewer = principal(Role.VIEWER, tenant.tenant_id)
    service.session_opened(tenant.device_id, NOW_MS)
    assert service.get(viewer, tenant.device_id)["status"] == "connected-inactive"
    service.session_opened(tenant.device_id, NOW_MS + 1)  # a repeated announcement changes nothing
    service.session_closed(tenant.device_id, NOW_MS + 2_000, "session closed")
    state = service.get(viewer, tenant.device_id)
    assert (state["status"], state["last_connected_ms"], state["last_disconnected_ms"]) == (
        "disconnected",
        NOW_MS,
        NOW_MS + 2_000,
    )
    assert [e.kind.value for e in service.events(viewer, tenant.device_id)] == ["disconnected", "connected"]


def test_unknown_ids_are_ignored_and_other_tenants_see_nothing(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, service = world
    beta = populate_tenant(harness.services, "beta")
    service.session_opened("openiiot-platform-consumer", NOW_MS)  # the platform's own client
    service.activity({"no-such-device": NOW_MS})
    service.activity({tenant.device_id: NOW_MS})
    other = principal(Role.TENANT_ADMIN, beta.tenant_id)
    with pytest.raises(NotFound):
        service.get(other, tenant.device_id)
    with pytest.raises(NotFound):
        service.events(other, tenant.device_id)
    assert service.summary(other)["by_status"]["active"] == 0
    assert service.summary(principal(Role.VIEWER, tenant.tenant_id))["by_status"]["active"] == 1
    assert service.device_ids_with_status(other, Status.ACTIVE) == []


def test_summary_counts_by_site(world: tuple[Harness, TenantWorld, ConnectivityService]) -> None:
    harness, tenant, service = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    second = harness.services.devices.create(admin, {"name": "acme-ac-2", "profile_id": tenant.profile_id})
    service.activity({tenant.device_id: NOW_MS})
    service.session_opened(second.device.id, NOW_MS)
    summary = service.summary(admin, "site")
    assert summary["total"] == 2
    assert summary["groups"][tenant.site_id]["active"] == 1
    assert summary["groups"]["none"]["connected-inactive"] == 1  # the second device has no asset


def test_state_survives_a_restart_and_open_sessions_close_with_the_embedded_broker(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, service = world
    service.session_opened(tenant.device_id, NOW_MS)
    service.activity({tenant.device_id: NOW_MS + 1_000})
    service.check()
    service.flush()

    harness.clock.now = NOW_MS + 60_000
    restarted = ConnectivityService(harness.uow, DeviceDirectory(harness.uow), harness.clock)
    assert restarted.load(sessions_reset=True) == 1
    viewer = principal(Role.VIEWER, tenant.tenant_id)
    state = restarted.get(viewer, tenant.device_id)
    assert (state["connected"], state["active"], state["last_activity_ms"]) == (False, True, NOW_MS + 1_000)
    restarted.check()
    newest = restarted.events(viewer, tenant.device_id)[0]
    assert (newest.kind.value, newest.ts_ms, newest.reason) == (
        "disconnected",
        NOW_MS + 60_000,
        "platform restarted",
    )


def test_a_changed_profile_timeout_applies_at_once(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, _ = world
    directory = DeviceDirectory(harness.uow)
    service = ConnectivityService(harness.uow, directory, harness.clock)
    viewer = principal(Role.VIEWER, tenant.tenant_id)
    device = tenant.device_id
    service.activity({device: NOW_MS})
    harness.services.profiles.update(
        principal(Role.TENANT_ADMIN, tenant.tenant_id), tenant.profile_id, {"inactivity_timeout_s": 60}
    )
    directory.invalidate(device)  # what bootstrap wires to every device change
    service.device_changed(device)
    harness.clock.now = NOW_MS + 61_000  # past the new 60 s, far before the old 600 s
    service.check()
    assert service.get(viewer, device)["status"] == "disconnected"


def test_children_follow_their_own_connect_and_fall_with_the_gateway_session(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, service = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    gateway = tenant.device_id
    harness.services.devices.update(admin, gateway, {"is_gateway": True})
    children = [
        harness.services.devices.create(
            admin, {"name": name, "profile_id": tenant.profile_id, "gateway_id": gateway}
        ).device.id
        for name in ("child-a", "child-b")
    ]
    service.session_opened(gateway, NOW_MS)
    service.child_session(gateway, children[0], True, NOW_MS + 1_000, "connected via the gateway")
    service.activity({children[0]: NOW_MS + 2_000})

    assert service.get(admin, children[0])["status"] == "active"
    assert service.get(admin, children[0])["via_gateway"] == gateway
    # the gateway's own session says nothing about a child it has not connected
    assert service.get(admin, children[1])["status"] == "never-seen"
    assert service.is_connected(children[0]) and not service.is_connected(children[1])

    assert service.session_closed(gateway, NOW_MS + 3_000, "session closed") == [children[0]]
    after = service.get(admin, children[0])
    assert (after["connected"], after["last_disconnected_ms"]) == (False, NOW_MS + 3_000)
    history = [(e.kind.value, e.reason) for e in reversed(service.events(admin, children[0]))]
    assert history == [
        ("connected", "connected via the gateway"),
        ("active", ""),
        ("disconnected", "gateway session closed"),
    ]


def test_a_child_connected_before_a_restart_still_falls_with_its_gateway(
    world: tuple[Harness, TenantWorld, ConnectivityService],
) -> None:
    harness, tenant, service = world
    admin = principal(Role.TENANT_ADMIN, tenant.tenant_id)
    gateway = tenant.device_id
    harness.services.devices.update(admin, gateway, {"is_gateway": True})
    child = harness.services.devices.create(
        admin, {"name": "child-a", "profile_id": tenant.profile_id, "gateway_id": gateway}
    ).device.id
    service.session_opened(gateway, NOW_MS)
    service.child_session(gateway, child, True, NOW_MS, "connected via the gateway")
    service.check()
    service.flush()

    # an external broker keeps sessions across a platform restart: nothing is reset at load
    restarted = ConnectivityService(harness.uow, DeviceDirectory(harness.uow), harness.clock)
    restarted.load(sessions_reset=False)
    assert restarted.is_connected(child)
    assert restarted.gateway_of(child) == gateway  # its commands still go through the gateway
    assert restarted.session_closed(gateway, NOW_MS + 5_000) == [child]
    assert not restarted.is_connected(child)
    assert restarted.gateway_of(child) is None
