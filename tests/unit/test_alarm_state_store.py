"""Rule states stored as a row plus window chunks (decision 0015) restart exactly where they stopped.

The random rules and histories of the equivalence test run through the engine's way of storing: after
every call the advanced state is written (row, appended items, trims) to the memory repository, and a
restart reads it back from there. States and transitions must stay those of the reference evaluator, and
no window may keep more than TRIM_SLACK chunks it no longer needs.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from tests.unit import alarm_reference_evaluator as reference
from tests.unit.test_alarm_evaluator_equivalence import Call, histories, rules

from openiiot.domain.alarms import AlarmRule, RuleState, advance, parse_rule
from openiiot.services.alarm_state_store import (
    MERGE_AT,
    TRIM_SLACK,
    PendingWrite,
    StoredState,
    committed,
    load_states,
    prepare_write,
    store,
)
from openiiot.services.ports import WindowChunk
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory

KEY = ("r", "dev-1")


def _store(factory: MemoryUnitOfWorkFactory, before: StoredState, state: RuleState) -> StoredState:
    return _write(factory, prepare_write(KEY, "t-a", before, state))


def _write(factory: MemoryUnitOfWorkFactory, pending: PendingWrite) -> StoredState:
    with factory() as uow:
        store(uow.alarms, [pending])
        uow.commit()
    return committed(pending)


def _load(factory: MemoryUnitOfWorkFactory) -> StoredState:
    with factory() as uow:
        return load_states(uow.alarms, [KEY])[KEY]


def _dead_chunks_per_window(factory: MemoryUnitOfWorkFactory, state: RuleState) -> dict[str, int]:
    """For each stored window, how many of its chunks hold only items that left the window."""
    with factory() as uow:
        chunks = uow.alarms.read_window_chunks([KEY]).get(KEY, [])
    series = state.series()
    dead: dict[str, int] = {}
    for name in {c.series for c in chunks}:
        sizes = [len(c.items) for c in chunks if c.series == name]
        need, total, live = len(series.get(name, ())), 0, 0
        for size in reversed(sizes):
            if total >= need:
                break
            total, live = total + size, live + 1
        dead[name] = len(sizes) - live
    return dead


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules(), histories())
def test_a_stored_state_restarts_exactly_and_its_windows_stay_trimmed(
    rule: AlarmRule, calls: list[Call]
) -> None:
    factory = MemoryUnitOfWorkFactory()
    stored, slow = StoredState(RuleState()), RuleState()
    for samples, now, context, restart in calls:
        if restart:  # a new process: nothing but what the database holds
            stored = _load(factory)
            assert stored.state.to_dict() == slow.to_dict()
        fast, fast_transitions = advance(rule, stored.state, samples, now, context)
        slow, slow_transitions = reference.evaluate(rule, slow, samples, now, context)
        assert fast_transitions == slow_transitions
        stored = _store(factory, stored, fast)
        assert fast.to_dict() == slow.to_dict()
        assert all(n < TRIM_SLACK for n in _dead_chunks_per_window(factory, fast).values())
    assert _load(factory).state.to_dict() == slow.to_dict()


DRIFT = parse_rule(
    {
        "id": "drift",
        "name": "Drift",
        "alarm_type": "Drift",
        "levels": [
            {
                "severity": "warning",
                "condition": {"type": "deviation", "key": "a", "window_s": 60, "min_samples": 5, "sigma": 3},
            }
        ],
    }
)


def test_a_batch_stores_only_its_own_samples_however_long_the_window() -> None:
    factory = MemoryUnitOfWorkFactory()
    stored = StoredState(RuleState())
    for i in range(200):  # 10 samples a second for 200 s: a full 60 s window holds 600 samples
        samples = [(i * 1_000 + j * 100, "a", float((i * 10 + j) % 7)) for j in range(10)]
        state, _ = advance(DRIFT, stored.state, samples, i * 1_000 + 900)
        pending = prepare_write(KEY, "t-a", stored, state)
        assert [len(c.items) for c in pending.appends] == [10]
        assert len(str(pending.write.state)) < 1_000  # the row: timers and lengths, no samples
        stored = _write(factory, pending)
    [window] = stored.state.windows.values()
    assert len(window) == 600
    with factory() as uow:
        chunks = uow.alarms.read_window_chunks([KEY])[KEY]
    assert 60 <= len(chunks) < 60 + TRIM_SLACK
    assert _load(factory).state.to_dict() == stored.state.to_dict()


def test_a_window_of_many_small_chunks_is_stored_whole_after_it_was_read_back() -> None:
    """One sample per write makes one-item chunks; once a restart has paid for reading them all, the next
    write stores the window as one chunk, so the restart after it reads a handful of rows."""
    factory = MemoryUnitOfWorkFactory()
    stored = StoredState(RuleState())
    for i in range(MERGE_AT + 20):
        state, _ = advance(DRIFT, stored.state, [(i * 100, "a", float(i % 3))], i * 100)
        stored = _store(factory, stored, state)
    assert len(_chunks(factory)) == MERGE_AT + 20

    restarted = _load(factory)
    state, _ = advance(DRIFT, restarted.state, [(10_000, "a", 1.0)], 10_000)
    stored = _store(factory, restarted, state)

    assert [len(c.items) for c in _chunks(factory)] == [MERGE_AT + 21]
    assert _load(factory).state.to_dict() == stored.state.to_dict()


def _chunks(factory: MemoryUnitOfWorkFactory) -> list[WindowChunk]:
    with factory() as uow:
        return uow.alarms.read_window_chunks([KEY]).get(KEY, [])
