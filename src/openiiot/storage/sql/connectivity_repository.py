"""SQL storage of device connectivity: current states (upserted in bulk) and the transition log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


_STATES = DeviceConnectivityRow.__table__


def _mark(paramstyle: str) -> str:
    """The positional placeholder of the driver (sqlite3: qmark; psycopg: format/pyformat)."""
    if paramstyle == "qmark":
        return "?"
    if paramstyle in ("format", "pyformat"):
        return "%s"
    raise ValueError(f"unsupported DB-API paramstyle {paramstyle!r}")


class SqlConnectivityRepository(SqlRepository):
    """`device_connectivity` and `connectivity_events`."""

    def save_states(self, states: Sequence[DeviceConnectivity]) -> None:
        """Replace the rows of these devices (delete + insert, any SQL engine)."""
        if not states:
            return
        connection = self._session.connection()
        mark = _mark(connection.dialect.paramstyle)
        # the driver's own executemany: SQLAlchemy's per-row parameter handling cost more than the SQL
        connection.exec_driver_sql(
            f"DELETE FROM device_connectivity WHERE device_id = {mark}", [(s.device_id,) for s in states]
        )
        connection.exec_driver_sql(
            f"INSERT INTO device_connectivity ({', '.join(_STATE_FIELDS)}) "
            f"VALUES ({', '.join([mark] * len(_STATE_FIELDS))})",
            [tuple(getattr(s, name) for name in _STATE_FIELDS) for s in states],
        )

    def save_activity(self, last_activity_ms: Mapping[str, int]) -> None:
        """Move the last activity of devices whose row exists; other rows and fields stay as they are."""
        if not last_activity_ms:
            return
        connection = self._session.connection()
        mark = _mark(connection.dialect.paramstyle)
        connection.exec_driver_sql(
            f"UPDATE device_connectivity SET last_activity_ms = {mark} WHERE device_id = {mark}",
            [(ts_ms, device_id) for device_id, ts_ms in last_activity_ms.items()],
        )

    def load_states(self) -> list[DeviceConnectivity]:
        """Every stored state."""
        columns = [_STATES.c[name] for name in _STATE_FIELDS]
        return [DeviceConnectivity(*row) for row in self._session.execute(select(*columns))]

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

    def delete_events_before(self, cutoff_ms: int) -> int:
        """Retention: delete transitions older than `cutoff_ms` (index on ts_ms); return how many."""
        result = self._session.execute(
            delete(ConnectivityEventRow).where(ConnectivityEventRow.ts_ms < cutoff_ms)
        )
        self._flush()
        return int(getattr(result, "rowcount", 0) or 0)
