"""Dict-based connectivity storage with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from openiiot.domain.connectivity import ConnectivityEvent, DeviceConnectivity
from openiiot.storage.memory.metadata_repositories import MetadataTables, page


class MemoryConnectivityRepository:
    """Connectivity states and events in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def save_states(self, states: Sequence[DeviceConnectivity]) -> None:
        """Insert or replace (copies: the service mutates its own objects)."""
        for state in states:
            self._t.connectivity_states[state.device_id] = dataclasses.replace(state)

    def save_activity(self, last_activity_ms: Mapping[str, int]) -> None:
        """Move the last activity of devices whose state is stored; others are ignored."""
        for device_id, ts_ms in last_activity_ms.items():
            state = self._t.connectivity_states.get(device_id)
            if state is not None:  # replaced, never mutated: the committed tables may share the object
                self._t.connectivity_states[device_id] = dataclasses.replace(state, last_activity_ms=ts_ms)

    def load_states(self) -> list[DeviceConnectivity]:
        """Every stored state (copies)."""
        return [dataclasses.replace(s) for s in self._t.connectivity_states.values()]

    def add_events(self, events: Sequence[ConnectivityEvent]) -> None:
        """Append transitions."""
        for event in events:
            self._t.connectivity_events[event.id] = event

    def list_events(
        self,
        device_id: str,
        *,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ConnectivityEvent]:
        """The device's transitions in [from_ms, to_ms), newest first."""
        found = (
            e
            for e in self._t.connectivity_events.values()
            if e.device_id == device_id
            and (from_ms is None or e.ts_ms >= from_ms)
            and (to_ms is None or e.ts_ms < to_ms)
        )
        return page(found, lambda e: (-e.ts_ms, tuple(-ord(c) for c in e.id)), offset, limit)

    def delete_events_before(self, cutoff_ms: int) -> int:
        """Retention: drop transitions older than `cutoff_ms`; return how many."""
        old = [key for key, e in self._t.connectivity_events.items() if e.ts_ms < cutoff_ms]
        for key in old:
            del self._t.connectivity_events[key]
        return len(old)
