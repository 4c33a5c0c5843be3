"""A station savings report: avoided kWh with uncertainty, cost under a tariff, coal and CO₂ (IPMVP B1).

Combines savings.py, tariffs.py and carbon.py for a reporting period metered at a fixed interval::

    model = fit_baseline(base_kwh, base_vars, interval="hourly")
    report = station_savings_report(model, ts_s, rep_vars, rep_kwh, interval_s=3600, tariff=load_tariff(p))
    print(report.summary())
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from openiiot.analytics.energy.baseline import BaselineModel
from openiiot.analytics.energy.carbon import CarbonFactors, CarbonResult, carbon
from openiiot.analytics.energy.savings import SavingsReport, avoided_energy
from openiiot.analytics.energy.tariffs import CostBreakdown, Tariff, energy_cost


@dataclass(frozen=True)
class StationSavingsReport:
    """Savings of a reporting period in kWh, money and carbon; money and carbon only when accepted."""

    savings: SavingsReport
    baseline_cost: CostBreakdown | None  # the adjusted baseline's energy priced with the tariff
    reporting_cost: CostBreakdown | None
    carbon_saved: CarbonResult | None

    @property
    def cost_saved(self) -> float | None:
        if not self.savings.accepted or self.baseline_cost is None or self.reporting_cost is None:
            return None
        return self.baseline_cost.total_cost - self.reporting_cost.total_cost

    @property
    def cost_saved_share(self) -> float | None:
        saved = self.cost_saved
        if saved is None or self.baseline_cost is None or not self.baseline_cost.total_cost:
            return None
        return saved / self.baseline_cost.total_cost

    def summary(self) -> str:
        """The report in words."""
        s = self.savings
        if not s.accepted:
            return "No savings reported: " + "; ".join(s.reasons) + "."
        assert s.avoided_kwh is not None and s.uncertainty_kwh is not None and s.savings_fraction is not None
        parts = [
            f"Avoided energy {s.avoided_kwh:,.0f} kWh ± {s.uncertainty_kwh:,.0f} kWh ({s.confidence:.0%} "
            f"confidence), {s.savings_fraction:.1%} of the adjusted baseline {s.baseline_kwh:,.0f} kWh "
            f"over {s.intervals} intervals."
        ]
        if self.cost_saved is not None and self.baseline_cost is not None:
            parts.append(
                f"Cost saved {self.cost_saved:,.0f} {self.baseline_cost.currency} "
                f"({self.cost_saved_share or 0:.1%} of the baseline cost, demand charge included)."
            )
        if self.carbon_saved is not None:
            parts.append(
                f"Saved {self.carbon_saved.coal_tce:,.1f} tce standard coal "
                f"and {self.carbon_saved.co2_t:,.1f} t CO₂."
            )
        if s.warnings:
            parts.append("Caution: " + "; ".join(s.warnings) + ".")
        return " ".join(parts)


def station_savings_report(
    model: BaselineModel,
    ts_s: ArrayLike,
    reporting_variables: Mapping[str, ArrayLike],
    reporting_kwh: ArrayLike,
    *,
    interval_s: float,
    tariff: Tariff | None = None,
    carbon_factors: CarbonFactors | None = None,
    non_routine_kwh: float = 0.0,
) -> StationSavingsReport:
    """Avoided energy of the reporting period, priced with ``tariff`` (if any), with coal and CO₂ saved."""
    savings = avoided_energy(model, reporting_variables, reporting_kwh, non_routine_kwh=non_routine_kwh)
    base_cost = rep_cost = None
    if tariff is not None:
        predicted = model.predict(reporting_variables)
        actual = np.asarray(reporting_kwh, dtype=np.float64)
        ok = np.isfinite(predicted) & np.isfinite(actual)
        base_cost = energy_cost(tariff, np.asarray(ts_s)[ok], predicted[ok], interval_s)
        rep_cost = energy_cost(tariff, np.asarray(ts_s)[ok], actual[ok], interval_s)
    saved = None
    if savings.accepted and savings.avoided_kwh is not None:
        saved = carbon(savings.avoided_kwh, carbon_factors)
    return StationSavingsReport(savings, base_cost, rep_cost, saved)
