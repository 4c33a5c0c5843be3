"""Contract of the audit log: memory fake, SQLite and PostgreSQL store and search it the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.metadata_fixtures import METADATA_BACKENDS, MetadataBackend, open_metadata_backend

from openiiot.domain.audit import AuditEntry, AuditQuery
from openiiot.domain.errors import ValidationFailed


@pytest.fixture(params=METADATA_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    extra = (
        {"postgres_url": request.getfixturevalue("postgres_database")} if request.param == "postgres" else {}
    )
    with open_metadata_backend(request.param, tmp_path, **extra) as opened:
        yield opened


def entry(
    n: int, *, tenant: str | None = "t-a", action: str = "device.update", actor: str = "u-1"
) -> AuditEntry:
    return AuditEntry(
        id=f"e-{n:03d}",
        ts_ms=1_000 * n,
        tenant_id=tenant,
        actor_id=actor,
        actor_name="ops",
        actor_role="operator",
        actor_tenant_id=tenant,
        source_ip="10.0.0.7",
        action=action,
        object_type=action.split(".")[0],
        object_id=f"obj-{n % 3}",
        details={"label": "北区", "n": n},
    )


def add_all(backend: MetadataBackend, entries: list[AuditEntry]) -> None:
    with backend.uow() as uow:
        for e in entries:
            uow.audit.add(e)
        uow.commit()


def search(backend: MetadataBackend, tenant: str | None, query: AuditQuery, **page: int) -> list[AuditEntry]:
    with backend.uow() as uow:
        return uow.audit.list(tenant, query, **page)


def test_entries_come_back_whole_and_newest_first(backend: MetadataBackend) -> None:
    stored = [entry(n) for n in range(1, 6)]
    add_all(backend, stored)
    found = search(backend, "t-a", AuditQuery())
    assert found == list(reversed(stored))


def test_an_uncommitted_entry_is_not_kept(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.audit.add(entry(1))
    assert search(backend, None, AuditQuery()) == []


def test_tenant_scope_and_filters(backend: MetadataBackend) -> None:
    add_all(
        backend,
        [
            entry(1),
            entry(2, action="alarm.acknowledge", actor="u-2"),
            entry(3, tenant="t-b"),
            entry(4, action="alarm.clear"),
            entry(5, tenant=None, action="tenant.create"),
        ],
    )
    assert [e.id for e in search(backend, "t-a", AuditQuery())] == ["e-004", "e-002", "e-001"]
    assert len(search(backend, None, AuditQuery())) == 5
    assert [e.id for e in search(backend, "t-a", AuditQuery(action="alarm."))] == ["e-004", "e-002"]
    assert [e.id for e in search(backend, "t-a", AuditQuery(action="alarm.clear"))] == ["e-004"]
    assert [e.id for e in search(backend, None, AuditQuery(actor_id="u-2"))] == ["e-002"]
    assert [e.id for e in search(backend, None, AuditQuery(from_ms=2_000, to_ms=4_000))] == ["e-003", "e-002"]
    assert [e.id for e in search(backend, None, AuditQuery(object_type="device", object_id="obj-1"))] == [
        "e-001"
    ]


def test_a_like_wildcard_in_the_action_prefix_is_literal(backend: MetadataBackend) -> None:
    add_all(backend, [entry(1, action="device.update"), entry(2, action="dev_ce.update")])
    assert [e.id for e in search(backend, None, AuditQuery(action="dev_ce."))] == ["e-002"]


def test_paging(backend: MetadataBackend) -> None:
    add_all(backend, [entry(n) for n in range(1, 8)])
    first = search(backend, None, AuditQuery(), offset=0, limit=3)
    second = search(backend, None, AuditQuery(), offset=3, limit=3)
    assert [e.id for e in first + second] == [f"e-{n:03d}" for n in range(7, 1, -1)]


def test_a_reversed_time_range_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        AuditQuery(from_ms=10, to_ms=5)
