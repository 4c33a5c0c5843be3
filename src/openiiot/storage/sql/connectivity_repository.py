"""SQL storage of device connectivity: current states (upserted in bulk) and the transition log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from openiiot.domain.connectivity import ConnectivityEvent, ConnectivityEventKind, DeviceConnectivity
from openiiot.storage.sql.repository_base import SqlRepository
from openiiot.storage.sql.tables import ConnectivityEventRow, DeviceConnectivityRow

_STATE_FIELDS = (
    "device_id",
    "tenant_id",
    "inactivity_timeout_s",
    "connected",
    "active",
    "last_activity_ms",
    "last_connected_ms",
    "last_disconnected_ms",
)


class SqlConnectivityRepository(SqlRepository):
    """`device_connectivity` and `connectivity_events`."""

    def save_states(self, states: Sequence[DeviceConnectivity]) -> None:
        """Replace the rows of these devices (delete + insert: one statement each, any SQL engine)."""
        if not states:
            return
        ids = [s.device_id for s in states]
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            self._session.execute(
                delete(DeviceConnectivityRow).where(DeviceConnectivityRow.device_id.in_(chunk))
            )
        self._session.execute(
            DeviceConnectivityRow.__table__.insert(),  # type: ignore[attr-defined]
            [{name: getattr(s, name) for name in _STATE_FIELDS} for s in states],
        )
        self._flush()

    def load_states(self) -> list[DeviceConnectivity]:
        """Every stored state."""
        rows = self._session.scalars(select(DeviceConnectivityRow))
        return [DeviceConnectivity(**{name: getattr(r, name) for name in _STATE_FIELDS}) for r in rows]

    def add_events(self, events: Sequence[ConnectivityEvent]) -> None:
        """Append transitions."""
        if not events:
            return
        self._session.execute(
            ConnectivityEventRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "id": e.id,
                    "tenant_id": e.tenant_id,
                    "device_id": e.device_id,
                    "ts_ms": e.ts_ms,
                    "kind": e.kind.value,
                    "reason": e.reason[:200],
                }
                for e in events
            ],
        )
        self._flush()

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
        stmt = select(ConnectivityEventRow).where(ConnectivityEventRow.device_id == device_id)
        if from_ms is not None:
            stmt = stmt.where(ConnectivityEventRow.ts_ms >= from_ms)
        if to_ms is not None:
            stmt = stmt.where(ConnectivityEventRow.ts_ms < to_ms)
        stmt = stmt.order_by(ConnectivityEventRow.ts_ms.desc(), ConnectivityEventRow.id.desc())
        return [
            ConnectivityEvent(
                r.id, r.tenant_id, r.device_id, r.ts_ms, ConnectivityEventKind(r.kind), r.reason
            )
            for r in self._page(stmt, offset, limit)
        ]
