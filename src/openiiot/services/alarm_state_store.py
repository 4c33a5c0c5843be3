"""Alarm rule states in the database: a small row per (rule, originator) and its windows as appended chunks.

A rate, deviation or count window only grows at its end and shrinks at its front, so each window is the
suffix of everything ever appended to it. A state write therefore stores the row (`RuleState.to_row`: the
timers, latest values and each window's length) and, per window, one chunk with the items appended since
the last write, numbered with the version the write creates; the window is the last `length` items of its
chunks in order. Chunks wholly before that suffix are deleted a few at a time. So a batch writes its new
samples and a small row, whatever the windows' length (docs/decisions/0015-alarm-window-chunks.md). The
version check of decision 0007 on the row guards the chunks too: they are written after it, in the same
unit of work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openiiot.domain.alarms import RuleState
from openiiot.domain.errors import Conflict
from openiiot.services.ports import AlarmRepository, StateWrite, WindowChunk, WindowTrim

TRIM_SLACK = 8  # chunks of a window left behind by its front before one DELETE removes them together
MERGE_AT = 64  # a window read back from more chunks than this is written again as one chunk

Key = tuple[str, str]  # (rule id, originator id)


class StoredChunks:
    """The stored chunks of one window as (seq, item count), oldest first, and their total item count."""

    __slots__ = ("chunks", "items")

    def __init__(self, chunks: Iterable[tuple[int, int]] = ()) -> None:
        self.chunks = deque(chunks)
        self.items = sum(count for _, count in self.chunks)

    def append(self, seq: int, count: int) -> None:
        self.chunks.append((seq, count))
        self.items += count

    def dead(self, length: int) -> int:
        """How many of the oldest chunks lie wholly before the window's last `length` items."""
        dead, total = 0, self.items
        for _, count in self.chunks:
            if total - count < length:
                break
            total -= count
            dead += 1
        return dead

    def drop(self, dead: int) -> int:
        """Forget the `dead` oldest chunks; returns the seq below which stored chunks are to be deleted."""
        below = 0
        for _ in range(dead):
            seq, count = self.chunks.popleft()
            self.items -= count
            below = seq + 1
        return below


Layout = dict[str, StoredChunks]  # series -> its stored chunks


@dataclass(slots=True)
class StoredState:
    """A rule state as this process last read or wrote it: the version of its row and its chunks."""

    state: RuleState
    version: int | None = None  # None: no row yet
    layout: Layout = field(default_factory=dict)


@dataclass(slots=True)
class PendingWrite:
    """What storing one advanced state writes, and the StoredState it becomes once committed."""

    write: StateWrite
    appends: list[WindowChunk]
    trims: list[WindowTrim]
    stored: StoredState


def load_states(repo: AlarmRepository, keys: Sequence[Key]) -> dict[Key, StoredState]:
    """The stored states of `keys` (a fresh state for a key without a row), with their windows.

    A row and its chunks are read by two statements; should another process write in between, the chunks
    may miss items the row counts: that is a Conflict (the caller evaluates again), never a short window.
    """
    rows = repo.get_versioned_states(keys)
    chunks = repo.read_window_chunks([k for k in keys if k in rows]) if rows else {}
    found: dict[Key, StoredState] = {}
    for key in keys:
        row = rows.get(key)
        found[key] = (
            StoredState(RuleState()) if row is None else _restore(row[0], row[1], chunks.get(key, []))
        )
    return found


def _restore(row: Mapping[str, Any], version: int, chunks: Sequence[WindowChunk]) -> StoredState:
    by_series: dict[str, list[WindowChunk]] = {}
    for chunk in chunks:
        if chunk.seq <= version:  # a chunk of a newer write than the row read belongs to another state
            by_series.setdefault(chunk.series, []).append(chunk)
    series: dict[str, list[Any]] = {}
    lengths = row.get("series")
    for name, n in lengths.items() if isinstance(lengths, dict) else ():
        parts: list[list[Any]] = []
        total = 0
        for chunk in reversed(by_series.get(name, ())):  # the newest chunks hold the window
            if total >= n:
                break
            parts.append(chunk.items)
            total += len(chunk.items)
        if total < n:
            raise Conflict(f"window {name} of an alarm rule state was trimmed while it was read")
        items = [item for part in reversed(parts) for item in part]
        series[name] = items[total - n :]
    state = RuleState.from_row(row, series)
    layout = {name: StoredChunks((c.seq, len(c.items)) for c in parts) for name, parts in by_series.items()}
    for name, items in state.series().items():
        # a window fed a few items per write is stored as many small chunks; reading it costs a row per
        # chunk, so the next write (on this cold path anyway) stores it whole and the old chunks go
        stored = layout.get(name)
        if stored is not None and len(stored.chunks) - stored.dead(len(items)) > MERGE_AT:
            state.appended[name] = len(items)
    return StoredState(state, version, layout)


def prepare_write(key: Key, tenant_id: str, before: StoredState, state: RuleState) -> PendingWrite:
    """The row, the new chunks and the trims that store `state` over `before` (its last stored form).

    Takes `before` over, as `advance` takes the state: its chunk lists become those of the result (so
    nothing here costs in proportion to a window's length); a write that fails must drop both."""
    rule_id, originator_id = key
    new_version = (before.version or 0) + 1
    appends: list[WindowChunk] = []
    trims: list[WindowTrim] = []
    layout: Layout = {}
    current = state.series() if state.windows or state.count_ts_ms else {}
    appended = state.appended
    for name, items in current.items():
        chunks = before.layout.get(name) or StoredChunks()
        count = appended.get(name, 0)
        if count and items:
            new = items[-count:] if count < len(items) else list(items)
            appends.append(WindowChunk(rule_id, originator_id, name, new_version, new))
            chunks.append(new_version, len(new))
        dead = chunks.dead(len(items))
        if dead >= TRIM_SLACK or (dead and dead == len(chunks.chunks)):
            trims.append(WindowTrim(rule_id, originator_id, name, chunks.drop(dead)))
        if chunks.chunks:
            layout[name] = chunks
    for name, chunks in before.layout.items():
        if name not in current and chunks.chunks:  # a window of an edited rule's former version
            trims.append(WindowTrim(rule_id, originator_id, name, chunks.drop(len(chunks.chunks))))
    write = StateWrite(rule_id, originator_id, tenant_id, state.to_row(current), before.version)
    return PendingWrite(write, appends, trims, StoredState(state, new_version, layout))


def store(repo: AlarmRepository, pending: Sequence[PendingWrite]) -> None:
    """Write the rows (the version check, decision 0007), then the chunks they guard."""
    repo.write_states([p.write for p in pending])
    appends = [c for p in pending for c in p.appends]
    trims = [t for p in pending for t in p.trims]
    if appends or trims:
        repo.write_window_chunks(appends, trims)


def committed(pending: PendingWrite) -> StoredState:
    """The StoredState of a write once its unit of work committed: nothing is left to append."""
    pending.stored.state.appended.clear()
    return pending.stored
