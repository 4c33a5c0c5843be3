"""MTBF and MTTR (domain-methods D); two definitions of MTBF are in use, and both are given here.

- ISO 22400-2:2014: MTBF = sum(TBF_i) / (FE + 1), the FE failure events splitting the observed period into
  FE + 1 operating intervals; MTTR = sum(TTR_i) / FE; MTTF = sum(TTF_i) / FE.
- Common CMMS (and IEC 60050-192 "mean operating time between failures"): MTBF = operating time / failures.
- IEC 60050-192 / ISO/TR 12489 mean up + mean down time: MTBF = MTTF + MTTR (``mtbf_cycle``).
- Inherent availability = MTBF / (MTBF + MTTR).

``analytics.workorder_kpis`` computes its MTBF forms with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def mtbf_operating(operating_s: float, failures: int) -> float | None:
    """CMMS form: operating (up) time / failures; None without failures (undefined, not infinite)."""
    if operating_s < 0 or failures < 0:
        raise ValueError("operating time and failures cannot be negative")
    return operating_s / failures if failures else None


def mtbf_iso22400(operating_s: float, failures: int) -> float:
    """ISO 22400-2 form: sum of the times between failures / (FE + 1); defined with no failure too."""
    if operating_s < 0 or failures < 0:
        raise ValueError("operating time and failures cannot be negative")
    return operating_s / (failures + 1)


def mttr(repair_s: Sequence[float]) -> float | None:
    """Mean time to repair/restore: sum of the repair times / number of failures (ISO 22400-2)."""
    if any(r < 0 for r in repair_s):
        raise ValueError("repair times cannot be negative")
    return sum(repair_s) / len(repair_s) if repair_s else None


def inherent_availability(mtbf_s: float, mttr_s: float) -> float:
    """MTBF / (MTBF + MTTR)."""
    if mtbf_s < 0 or mttr_s < 0 or mtbf_s + mttr_s == 0:
        raise ValueError("need non-negative MTBF and MTTR, not both zero")
    return mtbf_s / (mtbf_s + mttr_s)


@dataclass(frozen=True)
class Reliability:
    failures: int
    operating_s: float
    repair_s: float
    mtbf_operating_s: float | None  # operating time / failures
    mtbf_iso22400_s: float  # operating time / (failures + 1)
    mttr_s: float | None
    mtbf_cycle_s: float | None  # MTTF + MTTR: mean time from one failure to the next, repair included

    @property
    def availability(self) -> float | None:
        if self.mtbf_operating_s is None or self.mttr_s is None:
            return None
        return inherent_availability(self.mtbf_operating_s, self.mttr_s)


def from_downtimes(period_s: float, downtimes: Sequence[tuple[float, float]]) -> Reliability:
    """Reliability figures for a period of ``period_s`` with failure downtimes (start_s, end_s) inside it.

    Operating time = period - repair time (downtimes are assumed not to overlap).
    """
    if period_s <= 0:
        raise ValueError("period must be positive")
    repairs = [end - start for start, end in downtimes]
    if any(r < 0 for r in repairs):
        raise ValueError("a downtime must end after it starts")
    repair = sum(repairs)
    if repair > period_s:
        raise ValueError("downtime exceeds the period")
    up = period_s - repair
    n = len(repairs)
    mt = mttr(repairs)
    mo = mtbf_operating(up, n)
    return Reliability(
        failures=n,
        operating_s=up,
        repair_s=repair,
        mtbf_operating_s=mo,
        mtbf_iso22400_s=mtbf_iso22400(up, n),
        mttr_s=mt,
        mtbf_cycle_s=(mo + mt) if mo is not None and mt is not None else None,
    )
