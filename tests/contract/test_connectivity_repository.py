"""Contract of connectivity storage: memory fake, SQLite and PostgreSQL keep states and events alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.metadata_fixtures import METADATA_BACKENDS, MetadataBackend, open_metadata_backend

from openiiot.domain.connectivity import ConnectivityEvent, ConnectivityEventKind, DeviceConnectivity


@pytest.fixture(params=METADATA_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    extra = (
        {"postgres_url": request.getfixturevalue("postgres_database")} if request.param == "postgres" else {}
    )
    with open_metadata_backend(request.param, tmp_path, **extra) as opened:
        yield opened


def state(device_id: str, **changes: object) -> DeviceConnectivity:
    base = DeviceConnectivity(
        device_id=device_id,
        tenant_id="t-a",
        inactivity_timeout_s=600,
        connected=True,
        active=True,
        last_activity_ms=1_000,
        last_connected_ms=500,
        last_disconnected_ms=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def stored(backend: MetadataBackend) -> dict[str, DeviceConnectivity]:
    with backend.uow() as uow:
        return {s.device_id: s for s in uow.connectivity.load_states()}


def test_states_round_trip_and_a_second_save_replaces_the_first(backend: MetadataBackend) -> None:
    first = [state("d-1"), state("d-2", connected=None, active=False, last_activity_ms=None)]
    with backend.uow() as uow:
        uow.connectivity.save_states(first)
        uow.commit()
    assert stored(backend) == {s.device_id: s for s in first}
    changed = state("d-1", connected=False, last_disconnected_ms=9_000)
    with backend.uow() as uow:
        uow.connectivity.save_states([changed])
        uow.commit()
    assert stored(backend) == {"d-1": changed, "d-2": first[1]}


def test_saving_activity_moves_only_the_last_activity_of_stored_devices(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.connectivity.save_states([state("d-1"), state("d-2")])
        uow.commit()
    with backend.uow() as uow:
        uow.connectivity.save_activity({"d-1": 5_000, "unknown": 7_000})
        uow.commit()
    after = stored(backend)
    assert after == {"d-1": state("d-1", last_activity_ms=5_000), "d-2": state("d-2")}


def test_an_uncommitted_save_is_not_kept(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.connectivity.save_states([state("d-1")])
        uow.commit()
    with backend.uow() as uow:
        uow.connectivity.save_activity({"d-1": 5_000})
        uow.connectivity.save_states([state("d-2")])
    assert stored(backend) == {"d-1": state("d-1")}


def test_events_are_listed_newest_first_within_the_range(backend: MetadataBackend) -> None:
    kinds = [ConnectivityEventKind.CONNECTED, ConnectivityEventKind.ACTIVE, ConnectivityEventKind.INACTIVE]
    events = [
        ConnectivityEvent(f"e-{n}", "t-a", "d-1", 1_000 * n, kind, "why" if n == 3 else "")
        for n, kind in enumerate(kinds, 1)
    ]
    other = ConnectivityEvent("e-9", "t-b", "d-9", 2_000, ConnectivityEventKind.DISCONNECTED)
    with backend.uow() as uow:
        uow.connectivity.add_events([*events, other])
        uow.commit()
    with backend.uow() as uow:
        everything = uow.connectivity.list_events("d-1")
        window = uow.connectivity.list_events("d-1", from_ms=2_000, to_ms=3_000)
        second_page = uow.connectivity.list_events("d-1", offset=1, limit=1)
    assert everything == list(reversed(events))
    assert window == [events[1]]  # from inclusive, to exclusive
    assert second_page == [events[1]]


def test_retention_deletes_only_events_older_than_the_cutoff(backend: MetadataBackend) -> None:
    events = [
        ConnectivityEvent(f"e-{n}", "t-a" if n % 2 else "t-b", f"d-{n % 3}", ts, ConnectivityEventKind.ACTIVE)
        for n, ts in enumerate((1_000, 4_999, 5_000, 9_000))
    ]
    with backend.uow() as uow:
        uow.connectivity.add_events(events)
        uow.commit()
    with backend.uow() as uow:
        deleted = uow.connectivity.delete_events_before(5_000)
        uow.commit()
    with backend.uow() as uow:
        left = sorted(e.id for d in ("d-0", "d-1", "d-2") for e in uow.connectivity.list_events(d))
    assert (deleted, left) == (2, ["e-2", "e-3"])  # the cutoff itself is kept
