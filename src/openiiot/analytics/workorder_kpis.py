"""Maintenance KPIs from work orders: MTTA, MTTR, MTBF and SLA compliance (pure functions).

Definitions (docs/work-orders.md; /work/shared/reference/domain-methods.md section E):
- MTTA, mean time to acknowledge: opened -> first assigned, over work orders that were assigned.
- MTTR, mean time to restore: opened -> resolved, over resolved work orders (the CMMS form: repair time
  per failure, including waiting and travel, which is what the customer's machine is down for).
- MTBF, mean time between failures: (period - time under repair) / failures, with failures = work orders
  opened from an alarm in the period (the CMMS form "operating time / failures"; ISO 22400-2 divides
  the sum of the times between failures by FE + 1 instead — both are reported, with the formulas of
  ``analytics.production.reliability``).
- SLA compliance: responded by the respond-due time, resolved by the resolve-due time, as shares of the
  work orders whose due time has passed or that met it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from statistics import fmean
from typing import Any

from openiiot.analytics.production import reliability
from openiiot.domain.workorders import WorkOrder, WorkOrderState


def _mean_s(values: Sequence[float]) -> float | None:
    return round(fmean(values) / 1000, 1) if values else None


def _share(met: int, total: int) -> float | None:
    return round(met / total, 4) if total else None


def kpis(orders: Sequence[WorkOrder], from_ms: int, to_ms: int, now_ms: int) -> dict[str, Any]:
    """The KPIs of work orders opened in [from_ms, to_ms)."""
    inside = [
        o for o in orders if from_ms <= o.created_ms < to_ms and o.state is not WorkOrderState.CANCELLED
    ]
    acknowledged = [o.responded_ms - o.created_ms for o in inside if o.responded_ms is not None]
    resolved = [o for o in inside if o.resolved_ms is not None]
    restore = [o.resolved_ms - o.created_ms for o in resolved if o.resolved_ms is not None]
    failures = sorted((o for o in inside if o.alarm_id is not None), key=lambda o: o.created_ms)
    period_ms = to_ms - from_ms
    repair_ms = sum((min(o.resolved_ms or now_ms, to_ms) - o.created_ms) for o in failures)
    up_ms = max(0, period_ms - repair_ms)
    mtbf_ms = reliability.mtbf_operating(up_ms, len(failures))
    respond_due = [o for o in inside if o.responded_ms is not None or o.respond_due_ms <= now_ms]
    respond_met = sum(
        1 for o in respond_due if o.responded_ms is not None and o.responded_ms <= o.respond_due_ms
    )
    resolve_due = [o for o in inside if o.resolved_ms is not None or o.resolve_due_ms <= now_ms]
    resolve_met = sum(
        1 for o in resolve_due if o.resolved_ms is not None and o.resolved_ms <= o.resolve_due_ms
    )
    return {
        "work_orders": len(inside),
        "open": sum(1 for o in inside if o.is_open),
        "failures": len(failures),
        "mtta_s": _mean_s(acknowledged),
        "mttr_s": _mean_s(restore),
        "mtbf_s": None if mtbf_ms is None else round(mtbf_ms / 1000, 1),
        "mtbf_iso22400_s": round(reliability.mtbf_iso22400(up_ms, len(failures)) / 1000, 1),
        "sla_respond_compliance": _share(respond_met, len(respond_due)),
        "sla_resolve_compliance": _share(resolve_met, len(resolve_due)),
    }


def grouped(
    orders: Iterable[WorkOrder],
    key: Callable[[WorkOrder], str | None],
    from_ms: int,
    to_ms: int,
    now_ms: int,
) -> dict[str, dict[str, Any]]:
    """KPIs per group (asset, device type, tenant); work orders without a group go to "none"."""
    groups: dict[str, list[WorkOrder]] = {}
    for order in orders:
        groups.setdefault(key(order) or "none", []).append(order)
    return {name: kpis(items, from_ms, to_ms, now_ms) for name, items in sorted(groups.items())}
