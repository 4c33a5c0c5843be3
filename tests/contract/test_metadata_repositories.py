"""Contract of the metadata ports: every backend (memory fake, SQLite, PostgreSQL) behaves the same."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.contract.metadata_fixtures import (
    METADATA_BACKENDS,
    MetadataBackend,
    World,
    open_metadata_backend,
    seed_world,
)

from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import (
    ApiKey,
    Asset,
    Attribute,
    AttributeScope,
    Device,
    DeviceProfile,
    JsonValue,
    Role,
    Site,
    Tenant,
    User,
)
from openiiot.services.ports import DeviceCredential, UnitOfWork


@pytest.fixture(params=METADATA_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    with open_metadata_backend(request.param, tmp_path, url) as opened:
        yield opened


@pytest.fixture
def world(backend: MetadataBackend) -> World:
    return seed_world(backend.uow)


def test_every_entity_reads_back_equal_to_what_was_stored(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        assert uow.tenants.get("t-a") == world.a
        assert uow.sites.get("t-a", "s-a") == world.site_a
        assert uow.assets.get("t-a", "as-a") == world.asset_a
        assert uow.profiles.get("t-a", "p-a") == world.profile_a
        assert uow.profiles.get_by_name("t-a", "compressor") == world.profile_a
        assert uow.devices.get("t-a", "d-a") == world.device_a
        assert uow.devices.get_by_name("t-b", "C-101") == world.device_b
        assert uow.users.get("t-a", "u-a") == world.user_a
        assert uow.users.get_by_username("root") == world.admin


def test_updates_replace_every_field(backend: MetadataBackend, world: World) -> None:
    changed = [
        replace(world.a, name="Acme Air", timezone="Europe/Berlin", region_code="310115", retention_days=30),
        replace(world.site_a, name="Plant A2", address="Pudong", latitude=None),
        replace(world.asset_a, name="Station 9", maintenance_mode=True),
        replace(world.profile_a, name="screw compressor", keys=world.profile_a.keys[:1], strict=False),
        replace(world.device_a, label="left", token_hash="rotated", disabled=True, asset_id=None),
        replace(world.user_a, display_name="Alice", locale="zh-CN", disabled=True),
    ]
    with backend.uow() as uow:
        uow.tenants.update(changed[0])
        uow.sites.update(changed[1])
        uow.assets.update(changed[2])
        uow.profiles.update(changed[3])
        uow.devices.update(changed[4])
        uow.users.update(changed[5])
        uow.commit()
    with backend.uow() as uow:
        stored = [
            uow.tenants.get("t-a"),
            uow.sites.get("t-a", "s-a"),
            uow.assets.get("t-a", "as-a"),
            uow.profiles.get("t-a", "p-a"),
            uow.devices.get("t-a", "d-a"),
            uow.users.get("t-a", "u-a"),
        ]
    assert stored == changed


def _other_tenant_reads(uow: UnitOfWork) -> list[Callable[[], object]]:
    """Reads by tenant A of objects that belong to tenant B."""
    return [
        lambda: uow.sites.get("t-a", "s-b"),
        lambda: uow.assets.get("t-a", "as-b"),
        lambda: uow.profiles.get("t-a", "p-b"),
        lambda: uow.devices.get("t-a", "d-b"),
        lambda: uow.users.get("t-a", "u-b"),
        lambda: uow.users.get("t-a", "u-root"),
    ]


def test_another_tenants_objects_are_not_found(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        for read in _other_tenant_reads(uow):
            with pytest.raises(NotFound):
                read()


def test_another_tenants_objects_cannot_be_updated_or_deleted(backend: MetadataBackend, world: World) -> None:
    # an update carrying tenant A's id for B's object must not move or change it
    hijacks = [
        ("sites", replace(world.site_b, tenant_id="t-a", name="mine")),
        ("assets", replace(world.asset_b, tenant_id="t-a", site_id="s-a", name="mine")),
        ("profiles", replace(world.profile_b, tenant_id="t-a", name="mine")),
        ("devices", replace(world.device_b, tenant_id="t-a", profile_id="p-a", name="mine")),
        ("users", replace(world.user_b, tenant_id="t-a", username="mallory")),
        ("users", replace(world.admin, role=Role.TENANT_ADMIN, tenant_id="t-a")),
    ]
    deletes = [
        ("sites", "s-b"),
        ("assets", "as-b"),
        ("profiles", "p-b"),
        ("devices", "d-b"),
        ("users", "u-b"),
    ]
    with backend.uow() as uow:
        for repo, obj in hijacks:
            with pytest.raises(NotFound):
                getattr(uow, repo).update(obj)
        for repo, ident in deletes:
            with pytest.raises(NotFound):
                getattr(uow, repo).delete("t-a", ident)
        uow.commit()
    with backend.uow() as uow:
        assert uow.sites.get("t-b", "s-b") == world.site_b
        assert uow.assets.get("t-b", "as-b") == world.asset_b
        assert uow.profiles.get("t-b", "p-b") == world.profile_b
        assert uow.devices.get("t-b", "d-b") == world.device_b
        assert uow.users.get("t-b", "u-b") == world.user_b
        assert uow.users.get(None, "u-root") == world.admin


def test_lists_are_confined_to_the_tenant(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        assert uow.sites.list("t-a") == [world.site_a]
        assert uow.assets.list("t-a") == [world.asset_a]
        assert uow.profiles.list("t-a") == [world.profile_a]
        assert uow.devices.list("t-a") == [world.device_a]
        assert uow.devices.count("t-a") == 1
        assert uow.devices.ids_of_tenant("t-b") == ["d-b"]
        assert uow.users.list("t-a") == [world.user_a]
        with pytest.raises(NotFound):
            uow.devices.get_by_name("t-a", "missing")
        with pytest.raises(NotFound):
            uow.profiles.get_by_name("t-a", "missing")


def test_platform_admin_scope_sees_every_tenant(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        assert uow.devices.get(None, "d-b") == world.device_b
        assert {d.id for d in uow.devices.list(None)} == {"d-a", "d-b"}
        assert uow.devices.count(None) == 2
        assert {s.id for s in uow.sites.list(None)} == {"s-a", "s-b"}
        assert {a.id for a in uow.assets.list(None)} == {"as-a", "as-b"}
        assert {p.id for p in uow.profiles.list(None)} == {"p-a", "p-b"}
        assert {u.id for u in uow.users.list(None)} == {"u-a", "u-b", "u-root"}
        assert [t.id for t in uow.tenants.list()] == ["t-a", "t-b"]
        uow.devices.delete(None, "d-b")
        uow.commit()
    with backend.uow() as uow:
        assert uow.devices.count(None) == 1


def test_duplicates_raise_conflict_naming_the_field(backend: MetadataBackend, world: World) -> None:
    cases: list[tuple[str, object, str]] = [
        ("devices", Device(id="d-new", tenant_id="t-a", name="C-101", profile_id="p-a"), "name"),
        ("profiles", DeviceProfile(id="p-new", tenant_id="t-a", name="compressor"), "name"),
        ("users", User(id="u-new", username="bob", role=Role.VIEWER, tenant_id="t-a"), "username"),
        ("devices", replace(world.device_a, name="other"), "id"),
        ("tenants", replace(world.a, name="again"), "id"),
    ]
    for repo, obj, field in cases:
        with backend.uow() as uow, pytest.raises(Conflict) as caught:
            getattr(uow, repo).add(obj)
        assert caught.value.field == field, repo


def test_renaming_onto_a_taken_name_conflicts(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.devices.add(Device(id="d-2", tenant_id="t-a", name="C-102", profile_id="p-a"))
        uow.commit()
    with backend.uow() as uow, pytest.raises(Conflict) as caught:
        uow.devices.update(Device(id="d-2", tenant_id="t-a", name="C-101", profile_id="p-a"))
    assert caught.value.field == "name"
    with backend.uow() as uow:
        assert uow.devices.get("t-a", "d-2").name == "C-102"


def test_same_names_in_different_tenants_are_fine(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        assert uow.devices.get_by_name("t-a", "C-101").id == "d-a"
        assert uow.devices.get_by_name("t-b", "C-101").id == "d-b"


def test_references_to_another_tenant_are_not_found(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        with pytest.raises(NotFound):
            uow.devices.add(Device(id="d-x", tenant_id="t-a", name="x", profile_id="p-b"))
        with pytest.raises(NotFound):
            uow.devices.add(Device(id="d-x", tenant_id="t-a", name="x", profile_id="p-a", asset_id="as-b"))
        with pytest.raises(NotFound):
            uow.devices.add(Device(id="d-x", tenant_id="t-a", name="x", profile_id="p-a", gateway_id="d-b"))
        with pytest.raises(NotFound):
            uow.assets.add(Asset(id="as-x", tenant_id="t-a", site_id="s-b", name="x"))
        with pytest.raises(NotFound):
            uow.sites.add(Site(id="s-x", tenant_id="t-missing", name="x"))
        with pytest.raises(NotFound):
            uow.api_keys.add(_key("k", "t-a", "u-b"))


def test_the_gateway_flag_is_kept_and_a_gateways_children_are_listed_and_counted(
    backend: MetadataBackend, world: World
) -> None:
    with backend.uow() as uow:
        gateway = uow.devices.get("t-a", "d-a")
        uow.devices.update(replace(gateway, is_gateway=True))
        for name in ("c2", "c1"):
            uow.devices.add(Device(id=name, tenant_id="t-a", name=name, profile_id="p-a", gateway_id="d-a"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.devices.get(None, "d-a").is_gateway is True
        assert uow.devices.get_by_name("t-a", "c1").is_gateway is False
        assert [d.id for d in uow.devices.list("t-a", gateway_id="d-a")] == ["c1", "c2"]
        assert uow.devices.count("t-a", gateway_id="d-a") == 2
        assert uow.devices.count(None, gateway_id="d-a", search="c2") == 1
        assert uow.devices.count("t-b", gateway_id="d-a") == 0


def test_delete_rules_protect_what_is_still_used(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.devices.add(Device(id="child", tenant_id="t-a", name="child", profile_id="p-a", gateway_id="d-a"))
        uow.assets.add(Asset(id="as-a2", tenant_id="t-a", site_id="s-a", name="Machine", parent_id="as-a"))
        uow.commit()
    refusals: list[tuple[Callable[[UnitOfWork], None], str]] = [
        (lambda u: u.profiles.delete("t-a", "p-a"), "devices"),
        (lambda u: u.sites.delete("t-a", "s-a"), "assets"),
        (lambda u: u.assets.delete("t-a", "as-a"), "children"),
        (lambda u: u.devices.delete("t-a", "d-a"), "gateway_id"),
        (lambda u: u.tenants.delete("t-a"), "sites"),
    ]
    for delete, field in refusals:
        with backend.uow() as uow, pytest.raises(Conflict) as caught:
            delete(uow)
        assert caught.value.field == field
    with backend.uow() as uow:
        uow.devices.delete("t-a", "child")
        uow.devices.delete("t-a", "d-a")
        uow.assets.delete("t-a", "as-a2")
        uow.assets.delete("t-a", "as-a")
        uow.sites.delete("t-a", "s-a")
        uow.profiles.delete("t-a", "p-a")
        uow.users.delete("t-a", "u-a")
        uow.tenants.delete("t-a")
        uow.commit()
    with backend.uow() as uow:
        assert [t.id for t in uow.tenants.list()] == ["t-b"]
        with pytest.raises(NotFound):
            uow.tenants.delete("t-a")


def test_asset_tree_filters_and_stays_a_tree(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.sites.add(Site(id="s-a2", tenant_id="t-a", name="Plant A2"))
        uow.assets.add(Asset(id="m1", tenant_id="t-a", site_id="s-a", name="M1", parent_id="as-a"))
        uow.assets.add(Asset(id="m2", tenant_id="t-a", site_id="s-a", name="M2", parent_id="m1"))
        uow.commit()
    with backend.uow() as uow:
        assert [a.id for a in uow.assets.list("t-a", parent_id="as-a")] == ["m1"]
        assert [a.id for a in uow.assets.list("t-a", site_id="s-a")] == ["m1", "m2", "as-a"]
        assert uow.assets.list("t-a", site_id="s-a2") == []
        with pytest.raises(ValidationFailed) as caught:
            uow.assets.update(replace(world.asset_a, parent_id="m2"))  # m2 descends from as-a
        assert caught.value.field == "parent_id"
        with pytest.raises(ValidationFailed):
            uow.assets.add(Asset(id="m3", tenant_id="t-a", site_id="s-a2", name="M3", parent_id="m1"))
        with pytest.raises(ValidationFailed) as caught:
            uow.assets.update(replace(world.asset_a, site_id="s-a2"))
        assert caught.value.field == "site_id"


def test_device_search_matches_name_or_label_ignoring_case(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        for i, (name, label) in enumerate([("Pump-7", ""), ("fan", "Cooling PUMP"), ("50%_valve", "")]):
            uow.devices.add(Device(id=f"s{i}", tenant_id="t-a", name=name, profile_id="p-a", label=label))
        uow.commit()
    with backend.uow() as uow:
        assert [d.name for d in uow.devices.list("t-a", search="pump")] == ["Pump-7", "fan"]
        assert [d.name for d in uow.devices.list("t-a", search="COOLING")] == ["fan"]
        # wildcard characters are matched literally, not as patterns
        assert [d.name for d in uow.devices.list("t-a", search="%_")] == ["50%_valve"]
        assert uow.devices.list("t-a", search="nothing") == []
        assert [d.id for d in uow.devices.list("t-a", profile_id="p-a", asset_id="as-a")] == ["d-a"]
        assert uow.devices.list(None, search="pump", profile_id="p-b") == []


def test_devices_narrowed_to_a_set_of_ids_stay_in_the_scope(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.devices.add(Device(id="d-a2", tenant_id="t-a", name="A-200", profile_id="p-a"))
        uow.commit()
    with backend.uow() as uow:
        assert [d.id for d in uow.devices.list("t-a", ids=["d-a2", "d-a", "d-b", "nope"])] == ["d-a2", "d-a"]
        assert uow.devices.count("t-a", ids=["d-a2", "d-b"]) == 1
        assert [d.id for d in uow.devices.list(None, ids=["d-b"])] == ["d-b"]
        assert uow.devices.list("t-a", ids=[]) == []
        assert uow.devices.count(None, ids=["d-a", "d-b", "d-a2"], search="c-101") == 2


def test_paging_walks_every_item_once_in_name_order(backend: MetadataBackend, world: World) -> None:
    names = [f"dev-{i:02d}" for i in range(23)]
    with backend.uow() as uow:
        for name in reversed(names):
            uow.devices.add(Device(id=f"id-{name}", tenant_id="t-b", name=name, profile_id="p-b"))
        uow.commit()
    expected = sorted([*names, "C-101"])
    with backend.uow() as uow:
        pages = [uow.devices.list("t-b", offset=o, limit=5) for o in range(0, 30, 5)]
        assert [d.name for d in itertools.chain(*pages)] == expected
        assert [len(p) for p in pages] == [5, 5, 5, 5, 4, 0]
        assert uow.devices.count("t-b") == 24
        assert uow.devices.ids_of_tenant("t-b") == sorted(["d-b", *(f"id-{n}" for n in names)])
        with pytest.raises(ValidationFailed) as caught:
            uow.devices.list("t-b", offset=-1)
        assert caught.value.field == "offset"
        assert [t.name for t in uow.tenants.list(offset=1, limit=1)] == ["Beta Foundry"]


def test_changes_are_invisible_until_commit(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as writer:
        writer.devices.add(Device(id="d-new", tenant_id="t-a", name="new", profile_id="p-a"))
        with backend.uow() as reader, pytest.raises(NotFound):
            reader.devices.get("t-a", "d-new")
        assert backend.credentials.lookup("d-new") is None
        writer.commit()
    with backend.uow() as reader:
        assert reader.devices.get("t-a", "d-new").name == "new"


def test_leaving_without_commit_rolls_back(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.tenants.update(replace(world.a, name="Renamed"))
        uow.devices.delete("t-b", "d-b")
        uow.attributes.upsert([Attribute("d-a", AttributeScope.SERVER, "k", 1, 1)])
    with pytest.raises(RuntimeError), backend.uow() as uow:
        uow.users.delete("t-a", "u-a")
        raise RuntimeError("the use case failed")
    with backend.uow() as uow:
        assert uow.tenants.get("t-a").name == "Acme Compressors"
        assert uow.devices.get("t-b", "d-b") == world.device_b
        assert uow.attributes.list("d-a") == []
        assert uow.users.get("t-a", "u-a") == world.user_a


def test_explicit_rollback_discards_and_the_unit_of_work_stays_usable(
    backend: MetadataBackend, world: World
) -> None:
    with backend.uow() as uow:
        uow.sites.add(Site(id="s-gone", tenant_id="t-a", name="gone"))
        uow.rollback()
        with pytest.raises(NotFound):
            uow.sites.get("t-a", "s-gone")
        uow.sites.add(Site(id="s-kept", tenant_id="t-a", name="kept"))
        uow.commit()
    with backend.uow() as uow:
        assert [s.id for s in uow.sites.list("t-a")] == ["s-a", "s-kept"]


def test_attribute_upsert_last_write_wins_per_device_scope_key(
    backend: MetadataBackend, world: World
) -> None:
    with backend.uow() as uow:
        uow.attributes.upsert(
            [
                Attribute("d-a", AttributeScope.CLIENT, "fw", "1.0", 100),
                Attribute("d-a", AttributeScope.SHARED, "fw", "2.0", 100),
                Attribute("d-a", AttributeScope.CLIENT, "fw", "1.1", 101),  # same batch: the later wins
                Attribute("d-b", AttributeScope.CLIENT, "fw", "9.9", 100),
            ]
        )
        uow.commit()
    with backend.uow() as uow:
        uow.attributes.upsert([Attribute("d-a", AttributeScope.SHARED, "fw", "2.1", 200)])
        assert uow.attributes.list("d-a", AttributeScope.SHARED) == [
            Attribute("d-a", AttributeScope.SHARED, "fw", "2.1", 200)
        ]
        uow.commit()
    with backend.uow() as uow:
        assert uow.attributes.list("d-a") == [
            Attribute("d-a", AttributeScope.CLIENT, "fw", "1.1", 101),
            Attribute("d-a", AttributeScope.SHARED, "fw", "2.1", 200),
        ]
        assert [a.value for a in uow.attributes.list("d-b")] == ["9.9"]
        uow.attributes.delete("d-a", AttributeScope.CLIENT, "fw")
        with pytest.raises(NotFound):
            uow.attributes.delete("d-a", AttributeScope.CLIENT, "fw")
        with pytest.raises(NotFound):
            uow.attributes.upsert([Attribute("no-such-device", AttributeScope.CLIENT, "fw", "1", 1)])
        with pytest.raises(ValidationFailed) as caught:
            uow.attributes.upsert([Attribute("d-a", AttributeScope.CLIENT, "t", float("nan"), 1)])
        assert caught.value.field == "value"
        uow.devices.delete("t-a", "d-a")
        uow.commit()
    with backend.uow() as uow:
        assert uow.attributes.list("d-a") == []


json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_keys = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_attribute_values_round_trip_as_json(
    backend: MetadataBackend, world: World, value: JsonValue
) -> None:
    key = f"k{next(_keys)}"
    with backend.uow() as uow:
        uow.attributes.upsert([Attribute("d-b", AttributeScope.SERVER, key, value, 5)])
        uow.commit()
    with backend.uow() as uow:
        stored = {a.key: a.value for a in uow.attributes.list("d-b", AttributeScope.SERVER)}
    assert stored[key] == value
    assert type(stored[key]) is type(value)


def _key(key_id: str, tenant_id: str | None, user_id: str, *, created_ms: int = 1) -> ApiKey:
    return ApiKey(
        id=key_id,
        tenant_id=tenant_id,
        user_id=user_id,
        name=f"key {key_id}",
        key_hash=f"hash-{key_id}",
        role=Role.VIEWER,
        created_ms=created_ms,
    )


def test_api_keys_are_found_by_hash_scoped_and_revocable(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow:
        uow.api_keys.add(_key("k2", "t-a", "u-a", created_ms=2))
        uow.api_keys.add(_key("k1", "t-a", "u-a", created_ms=1))
        uow.api_keys.add(_key("kb", "t-b", "u-b"))
        uow.api_keys.add(_key("kr", None, "u-root"))
        with pytest.raises(Conflict) as caught:
            uow.api_keys.add(replace(_key("k3", "t-a", "u-a"), key_hash="hash-k1"))
        assert caught.value.field == "key_hash"
        uow.commit()
    with backend.uow() as uow:
        assert uow.api_keys.get_by_hash("hash-k1") == _key("k1", "t-a", "u-a", created_ms=1)
        assert [k.id for k in uow.api_keys.list("t-a")] == ["k1", "k2"]
        assert [k.id for k in uow.api_keys.list(None, user_id="u-root")] == ["kr"]
        assert {k.id for k in uow.api_keys.list(None)} == {"k1", "k2", "kb", "kr"}
        with pytest.raises(NotFound):
            uow.api_keys.update(replace(_key("kb", "t-b", "u-b"), tenant_id="t-a", user_id="u-a"))
        uow.api_keys.update(replace(_key("k1", "t-a", "u-a"), revoked=True, expires_ms=99))
        uow.commit()
    with backend.uow() as uow:
        assert uow.api_keys.get_by_hash("hash-k1").revoked is True
        with pytest.raises(NotFound):
            uow.api_keys.get_by_hash("nope")
        uow.users.delete("t-a", "u-a")  # a user's keys go with the user
        uow.commit()
    with backend.uow() as uow:
        assert uow.api_keys.list("t-a") == []
        with pytest.raises(NotFound):
            uow.api_keys.get_by_hash("hash-k2")


def test_usernames_are_unique_across_tenants(backend: MetadataBackend, world: World) -> None:
    with backend.uow() as uow, pytest.raises(Conflict) as caught:
        uow.users.add(User(id="u-c", username="alice", role=Role.VIEWER, tenant_id="t-b"))
    assert caught.value.field == "username"
    with backend.uow() as uow:
        uow.users.update(replace(world.user_b, username="robert"))
        uow.commit()
    with backend.uow() as uow:
        assert uow.users.get_by_username("robert").id == "u-b"
        with pytest.raises(NotFound):
            uow.users.get_by_username("bob")
        assert [u.username for u in uow.users.list(None)] == ["alice", "robert", "root"]


def test_credential_lookup_reads_committed_devices(backend: MetadataBackend, world: World) -> None:
    assert backend.credentials.lookup("d-a") == DeviceCredential("d-a", "t-a", "h-a", False)
    assert backend.credentials.lookup("no-such-device") is None
    with backend.uow() as uow:
        uow.devices.update(replace(world.device_a, token_hash="rotated", disabled=True))
        uow.commit()
    assert backend.credentials.lookup("d-a") == DeviceCredential("d-a", "t-a", "rotated", True)
    with backend.uow() as uow:
        uow.devices.delete("t-a", "d-a")
        uow.commit()
    assert backend.credentials.lookup("d-a") is None


def test_tenants_crud(backend: MetadataBackend) -> None:
    tenant = Tenant(id="t", name="T", region_code="110101", industry_code="C3441", credit_code="91310000X")
    with backend.uow() as uow:
        uow.tenants.add(tenant)
        uow.commit()
    with backend.uow() as uow:
        assert uow.tenants.list() == [tenant]
        uow.tenants.delete("t")
        uow.commit()
    with backend.uow() as uow:
        assert uow.tenants.list() == []
        with pytest.raises(NotFound):
            uow.tenants.get("t")
        with pytest.raises(NotFound):
            uow.tenants.update(tenant)
