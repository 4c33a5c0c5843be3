"""SQL storage of work orders: searchable columns plus the whole work order as JSON."""

from __future__ import annotations

import builtins

from sqlalchemy import select

from openiiot.domain.workorders import WorkOrder, WorkOrderState, workorder_from_dict, workorder_to_dict
from openiiot.storage.sql.repository_base import SqlRepository
from openiiot.storage.sql.tables import WorkOrderRow


def _values(order: WorkOrder) -> dict[str, object]:
    return {
        "id": order.id,
        "tenant_id": order.tenant_id,
        "state": order.state.value,
        "priority": order.priority.value,
        "asset_id": order.asset_id,
        "device_id": order.device_id,
        "alarm_id": order.alarm_id,
        "assignee": order.assignee,
        "created_ms": order.created_ms,
        "body": workorder_to_dict(order),
    }


class SqlWorkOrderRepository(SqlRepository):
    """The `work_orders` table."""

    def add(self, order: WorkOrder) -> None:
        """Store a new work order."""
        self._session.add(WorkOrderRow(**_values(order)))
        self._flush()

    def get(self, tenant_id: str | None, order_id: str) -> WorkOrder:
        """One work order, or NotFound in the scope."""
        return workorder_from_dict(self._scoped_get(WorkOrderRow, "work order", tenant_id, order_id).body)

    def update(self, order: WorkOrder) -> None:
        """Replace a stored work order."""
        row = self._scoped_get(WorkOrderRow, "work order", None, order.id)
        for name, value in _values(order).items():
            setattr(row, name, value)
        self._flush()

    def list(
        self,
        tenant_id: str | None,
        *,
        state: WorkOrderState | None = None,
        assignee: str | None = None,
        asset_id: str | None = None,
        device_id: str | None = None,
        alarm_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[WorkOrder]:
        """Work orders newest first."""
        stmt = select(WorkOrderRow)
        if tenant_id is not None:
            stmt = stmt.where(WorkOrderRow.tenant_id == tenant_id)
        for column, value in (
            (WorkOrderRow.state, None if state is None else state.value),
            (WorkOrderRow.assignee, assignee),
            (WorkOrderRow.asset_id, asset_id),
            (WorkOrderRow.device_id, device_id),
            (WorkOrderRow.alarm_id, alarm_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        stmt = stmt.order_by(WorkOrderRow.created_ms.desc(), WorkOrderRow.id.desc())
        return [workorder_from_dict(r.body) for r in self._page(stmt, offset, limit)]
