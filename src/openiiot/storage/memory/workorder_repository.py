"""Dict-based work order storage with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

import builtins

from openiiot.domain.errors import Conflict
from openiiot.domain.workorders import WorkOrder, WorkOrderState
from openiiot.storage.memory.metadata_repositories import MetadataTables, page, scoped_get


class MemoryWorkOrderRepository:
    """Work orders in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def add(self, order: WorkOrder) -> None:
        """Store a new work order."""
        if order.id in self._t.work_orders:
            raise Conflict(f"work order {order.id} exists")
        self._t.work_orders[order.id] = order

    def get(self, tenant_id: str | None, order_id: str) -> WorkOrder:
        """One work order, or NotFound in the scope."""
        return scoped_get(self._t.work_orders, "work order", tenant_id, order_id)

    def update(self, order: WorkOrder) -> None:
        """Replace a stored work order."""
        scoped_get(self._t.work_orders, "work order", None, order.id)
        self._t.work_orders[order.id] = order

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
        wanted = {"assignee": assignee, "asset_id": asset_id, "device_id": device_id, "alarm_id": alarm_id}
        found = (
            o
            for o in self._t.work_orders.values()
            if (tenant_id is None or o.tenant_id == tenant_id)
            and (state is None or o.state is state)
            and all(v is None or getattr(o, k) == v for k, v in wanted.items())
        )
        return page(found, lambda o: (-o.created_ms, tuple(-ord(c) for c in o.id)), offset, limit)
