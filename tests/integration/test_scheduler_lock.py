"""The scheduler lock: of several platform processes on one PostgreSQL database, one runs the fleet jobs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from tests.postgres_support import temporary_database

from openiiot.services.scheduler import PeriodicJob
from openiiot.storage.sql.leader import PostgresLeaderLock

pytestmark = pytest.mark.integration


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def test_one_holder_at_a_time_and_a_successor_when_it_goes(database: str) -> None:
    first, second = PostgresLeaderLock(database), PostgresLeaderLock(database)
    try:
        assert first.held() and not second.held()
        assert first.held() and not second.held()  # asking again changes nothing
        first.close()  # the holder stops: its session ends and the lock is free
        assert second.held() and not first.held()
    finally:
        first.close()
        second.close()


def test_an_unreachable_database_holds_no_lock() -> None:
    lock = PostgresLeaderLock("postgresql://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    assert not lock.held()


def test_jobs_of_two_processes_run_in_one_of_them(database: str) -> None:
    runs = {"a": 0, "b": 0}
    lock = threading.Lock()

    def action(name: str) -> None:
        with lock:
            runs[name] += 1

    leaders = [PostgresLeaderLock(database), PostgresLeaderLock(database)]
    jobs = [
        PeriodicJob("retention", 0.05, lambda n=n: action(n), leader=leader)
        for n, leader in zip(("a", "b"), leaders, strict=True)
    ]
    for job in jobs:
        job.start()
    time.sleep(1.0)
    for job in jobs:
        job.stop()
    for leader in leaders:
        leader.close()
    assert sorted(runs.values())[0] == 0 and sorted(runs.values())[1] >= 5
    assert sum(job.skipped for job in jobs) >= 5
