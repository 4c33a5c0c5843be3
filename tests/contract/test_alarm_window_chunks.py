"""Alarm rule windows stored as chunks (decision 0015), on every metadata backend.

A state write adds the window items it appended as one chunk per window, numbered with the state version
it created; old chunks are trimmed; a chunk written twice (two processes writing one version) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.metadata_fixtures import METADATA_BACKENDS, MetadataBackend, open_metadata_backend

from openiiot.domain.errors import Conflict
from openiiot.domain.model import DeviceProfile, Tenant
from openiiot.services.ports import AlarmRuleRecord, StateWrite, WindowChunk, WindowTrim

# awkward floats: a JSON round trip must give back exactly these
VALUES = [0.1 + 0.2, 1e-300, -0.0, 123456789.123456789, 5e-324, 1.7976931348623157e308]


@pytest.fixture(params=METADATA_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    extra = (
        {"postgres_url": request.getfixturevalue("postgres_database")} if request.param == "postgres" else {}
    )
    with open_metadata_backend(request.param, tmp_path, **extra) as opened:
        with opened.uow() as uow:
            uow.tenants.add(Tenant(id="t-a", name="Acme"))
            uow.profiles.add(DeviceProfile(id="p-a", tenant_id="t-a", name="compressor"))
            uow.commit()
        yield opened


def _chunk(series: str, seq: int, items: list[object], rule_id: str = "r1") -> WindowChunk:
    return WindowChunk(rule_id, "dev-1", series, seq, items)


def test_chunks_read_back_exactly_in_order_of_series_and_seq(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.alarms.write_states([StateWrite("r1", "dev-1", "t-a", {"n": 1}, None)])
        uow.alarms.write_window_chunks(
            [_chunk("w:b", 1, [[1_000, v] for v in VALUES]), _chunk("c:a", 1, [1_000, 2_000])], []
        )
        uow.commit()
    with backend.uow() as uow:
        uow.alarms.write_states([StateWrite("r1", "dev-1", "t-a", {"n": 2}, 1)])
        uow.alarms.write_window_chunks([_chunk("w:b", 2, [[3_000, 7.5]])], [])
        uow.commit()
    with backend.uow() as uow:
        found = uow.alarms.read_window_chunks([("r1", "dev-1"), ("r2", "dev-1")])
    assert list(found) == [("r1", "dev-1")]
    assert [(c.series, c.seq, c.items) for c in found[("r1", "dev-1")]] == [
        ("c:a", 1, [1_000, 2_000]),
        ("w:b", 1, [[1_000, v] for v in VALUES]),
        ("w:b", 2, [[3_000, 7.5]]),
    ]
    stored_b1 = found[("r1", "dev-1")][1].items
    assert [str(v) for _, v in stored_b1] == [str(v) for v in VALUES]  # -0.0 stays -0.0


def test_a_chunk_written_twice_is_a_conflict_and_the_first_stays(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.alarms.write_window_chunks([_chunk("w:x", 4, [[1, 1.0]])], [])
        uow.commit()
    with backend.uow() as uow, pytest.raises(Conflict):
        uow.alarms.write_window_chunks([_chunk("w:x", 4, [[1, 99.0]])], [])
        uow.commit()
    with backend.uow() as uow:
        [chunk] = uow.alarms.read_window_chunks([("r1", "dev-1")])[("r1", "dev-1")]
    assert chunk.items == [[1, 1.0]]


def test_a_trim_deletes_only_older_chunks_of_its_own_series(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.alarms.write_window_chunks(
            [_chunk("w:x", seq, [[seq, 1.0]]) for seq in range(1, 6)]
            + [_chunk("w:y", seq, [[seq, 2.0]]) for seq in range(1, 6)]
            + [_chunk("w:x", 1, [[1, 3.0]], rule_id="r2")],
            [],
        )
        uow.commit()
    with backend.uow() as uow:
        uow.alarms.write_window_chunks([], [WindowTrim("r1", "dev-1", "w:x", 4)])
        uow.commit()
    with backend.uow() as uow:
        found = uow.alarms.read_window_chunks([("r1", "dev-1"), ("r2", "dev-1")])
    assert [(c.series, c.seq) for c in found[("r1", "dev-1")]] == [
        ("w:x", 4),
        ("w:x", 5),
        *[("w:y", seq) for seq in range(1, 6)],
    ]
    assert [c.seq for c in found[("r2", "dev-1")]] == [1]


def test_deleting_a_rule_deletes_its_windows(backend: MetadataBackend) -> None:
    rule = {"id": "r1", "name": "x", "alarm_type": "x", "levels": []}
    with backend.uow() as uow:
        uow.alarms.add_rule(AlarmRuleRecord("r1", "t-a", "p-a", rule))
        uow.alarms.write_states([StateWrite("r1", "dev-1", "t-a", {"n": 1}, None)])
        uow.alarms.write_window_chunks([_chunk("w:x", 1, [[1, 1.0]])], [])
        uow.commit()
    with backend.uow() as uow:
        uow.alarms.delete_rule("t-a", "r1")
        uow.commit()
    with backend.uow() as uow:
        assert uow.alarms.read_window_chunks([("r1", "dev-1")]) == {}
        assert uow.alarms.get_versioned_states([("r1", "dev-1")]) == {}
