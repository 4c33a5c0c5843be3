"""Two processes writing the same alarm rule state: the later write over a changed row is refused.

Only the SQL backends run this: the memory fake serves one process, where the engine's lock already
serialises evaluations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contract.metadata_fixtures import MetadataBackend, open_metadata_backend

from openiiot.domain.errors import Conflict
from openiiot.domain.model import Tenant


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataBackend]:
    extra = (
        {"postgres_url": request.getfixturevalue("postgres_database")} if request.param == "postgres" else {}
    )
    with open_metadata_backend(request.param, tmp_path, **extra) as opened:
        with opened.uow() as uow:
            uow.tenants.add(Tenant(id="t-a", name="Acme"))
            uow.commit()
        yield opened


def test_a_state_changed_since_it_was_read_is_not_overwritten(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.alarms.save_state("r1", "dev-1", "t-a", {"n": 0})
        uow.commit()
    with backend.uow() as first, backend.uow() as second:
        assert first.alarms.get_state("r1", "dev-1") == {"n": 0}
        assert second.alarms.get_state("r1", "dev-1") == {"n": 0}
        first.alarms.save_state("r1", "dev-1", "t-a", {"n": 1})
        first.commit()
        with pytest.raises(Conflict):  # at the write or, at the latest, at the commit
            second.alarms.save_state("r1", "dev-1", "t-a", {"n": 100})
            second.commit()
    with backend.uow() as uow:
        assert uow.alarms.get_state("r1", "dev-1") == {"n": 1}


def test_two_first_writes_of_a_new_state_do_not_both_succeed(backend: MetadataBackend) -> None:
    with backend.uow() as first, backend.uow() as second:
        assert first.alarms.get_state("r1", "dev-2") is None
        assert second.alarms.get_state("r1", "dev-2") is None
        first.alarms.save_state("r1", "dev-2", "t-a", {"n": 1})
        first.commit()
        with pytest.raises(Conflict):
            second.alarms.save_state("r1", "dev-2", "t-a", {"n": 7})
            second.commit()
    with backend.uow() as uow:
        assert uow.alarms.get_state("r1", "dev-2") == {"n": 1}


def test_successive_writes_in_one_process_keep_working(backend: MetadataBackend) -> None:
    for n in range(5):
        with backend.uow() as uow:
            uow.alarms.save_state("r1", "dev-3", "t-a", {"n": n})
            uow.commit()
    with backend.uow() as uow:
        uow.alarms.save_state("r1", "dev-3", "t-a", {"n": 10})
        uow.alarms.save_state("r1", "dev-3", "t-a", {"n": 11})  # twice in one unit of work
        uow.commit()
    with backend.uow() as uow:
        assert uow.alarms.get_state("r1", "dev-3") == {"n": 11}


def test_states_of_several_rules_are_read_together_and_checked_alike(backend: MetadataBackend) -> None:
    with backend.uow() as uow:
        uow.alarms.save_state("r1", "dev-4", "t-a", {"n": 1})
        uow.commit()
    with backend.uow() as first, backend.uow() as second:
        assert first.alarms.get_states(["r1", "r2"], "dev-4") == {"r1": {"n": 1}, "r2": None}
        second.alarms.get_states(["r1", "r2"], "dev-4")
        second.alarms.save_state("r1", "dev-4", "t-a", {"n": 2})
        second.commit()
        with pytest.raises(Conflict):
            first.alarms.save_state("r1", "dev-4", "t-a", {"n": 9})
            first.commit()
    with backend.uow() as uow:
        assert uow.alarms.get_states(["r1"], "dev-4") == {"r1": {"n": 2}}
