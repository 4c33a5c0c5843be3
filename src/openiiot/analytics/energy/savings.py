"""Avoided energy, normalised savings, savings uncertainty, CUSUM (IPMVP B1, ASHRAE G14 B2, ISO 50006 B3).

A savings report is refused — ``accepted`` is False, the figures are None and ``reasons`` says why — when
the baseline model fails its acceptance criteria, or when the savings are not larger than their
uncertainty allows (fractional savings uncertainty above ``criteria.max_fsu`` at ``criteria.confidence``).

Use::

    report = avoided_energy(model, reporting_variables, reporting_energy_kwh)
    if report.accepted:
        report.avoided_kwh, report.uncertainty_kwh, report.savings_fraction
    else:
        report.reasons
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from openiiot.analytics.energy.baseline import BaselineModel, Criteria

Array = NDArray[np.float64]

# CalTRACK 4.3 replaces G14's 1.26 by a·M² + b·M + d (M = reporting months) for daily data
_CALTRACK_DAILY = (-0.00024, 0.03535, 1.00286)


def cusum(predicted: ArrayLike, actual: ArrayLike) -> Array:
    """Cumulative sum of (predicted - actual): rises while the site uses less than its baseline."""
    return np.cumsum(np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64))


def _fsu_factor(interval: str, m: int) -> float:
    months = m / {"hourly": 730.0, "daily": 30.4, "monthly": 1.0}.get(interval, 1.0)
    if interval != "daily":
        return 1.26  # G14's factor, derived for monthly data; also used for hourly data
    a, b, d = _CALTRACK_DAILY
    return a * months * months + b * months + d


def savings_uncertainty(model: BaselineModel, m: int, confidence: float | None = None) -> float:
    """Absolute uncertainty of the savings summed over m reporting intervals (G14 with autocorrelation).

    dE_save = t·c·CV·mean(y)·sqrt[(n/n')(1 + 2/n')·m], n' = n(1 - rho)/(1 + rho); c = 1.26 (G14) or
    CalTRACK's polynomial in the reporting months for daily data. Equivalent to the G14 fractional form
    dE/E = t·c·CV·sqrt[(n/n')(1 + 2/n')(1/m)]/F.
    """
    conf = confidence if confidence is not None else model.criteria.confidence
    rho = min(max(model.rho, 0.0), 0.99)
    n = model.n
    n_eff = n * (1 - rho) / (1 + rho)
    t = float(stats.t.ppf(0.5 + conf / 2.0, max(n - model.p, 1)))
    cv = model.cvrmse_pct / 100.0
    return (
        t * _fsu_factor(model.interval, m) * cv * model.mean_y * math.sqrt((n / n_eff) * (1 + 2 / n_eff) * m)
    )


@dataclass(frozen=True)
class SavingsReport:
    """Savings for a reporting period; figures are None when the report is refused."""

    accepted: bool
    reasons: tuple[str, ...]  # why the report is refused; empty when accepted
    warnings: tuple[str, ...]  # accepted with caution (e.g. conditions outside the baseline range)
    kind: str  # "avoided" (reporting-period conditions) or "normalised" (fixed conditions)
    baseline_kwh: float  # adjusted baseline: the model under the reporting (or normal) conditions
    reporting_kwh: float  # metered (or reporting-model) energy under the same conditions
    avoided_kwh: float | None
    savings_fraction: float | None
    uncertainty_kwh: float | None  # at ``confidence``
    fsu: float | None  # fractional savings uncertainty = uncertainty / savings
    confidence: float
    intervals: int
    cusum: Array  # cumulative (predicted - actual) per reporting interval


def _verdict(
    models: tuple[BaselineModel, ...], savings: float, uncertainty: float, crit: Criteria
) -> tuple[str, ...]:
    reasons = [f"baseline model fails: {f}" for m in models for f in m.failures]
    if not reasons and (savings == 0 or uncertainty / abs(savings) > crit.max_fsu):
        fsu = math.inf if savings == 0 else uncertainty / abs(savings)
        reasons.append(
            f"savings {savings:,.0f} kWh are within their uncertainty ±{uncertainty:,.0f} kWh "
            f"(fractional savings uncertainty {fsu:.0%} > {crit.max_fsu:.0%} at {crit.confidence:.0%})"
        )
    return tuple(reasons)


def avoided_energy(
    model: BaselineModel,
    reporting_variables: Mapping[str, ArrayLike],
    reporting_energy: ArrayLike,
    *,
    non_routine_kwh: float = 0.0,
) -> SavingsReport:
    """IPMVP avoided energy = adjusted baseline +/- non-routine adjustments - reporting-period energy."""
    actual = np.asarray(reporting_energy, dtype=np.float64)
    predicted = model.predict(reporting_variables)
    ok = np.isfinite(actual) & np.isfinite(predicted)
    base = float(predicted[ok].sum()) + non_routine_kwh
    used = float(actual[ok].sum())
    m = int(ok.sum())
    savings = base - used
    unc = savings_uncertainty(model, m)
    reasons = _verdict((model,), savings, unc, model.criteria)
    accepted = not reasons
    return SavingsReport(
        accepted=accepted,
        reasons=reasons,
        warnings=model.out_of_range(reporting_variables),
        kind="avoided",
        baseline_kwh=base,
        reporting_kwh=used,
        avoided_kwh=savings if accepted else None,
        savings_fraction=savings / base if accepted and base else None,
        uncertainty_kwh=unc if accepted else None,
        fsu=unc / abs(savings) if accepted else None,
        confidence=model.criteria.confidence,
        intervals=m,
        cusum=cusum(np.where(ok, predicted, 0.0), np.where(ok, actual, 0.0)),
    )


def normalised_savings(
    baseline: BaselineModel, reporting: BaselineModel, normal_variables: Mapping[str, ArrayLike]
) -> SavingsReport:
    """Normalised savings: baseline model minus reporting-period model, both under fixed normal conditions.

    Both models must pass their criteria; their savings uncertainties combine in quadrature.
    """
    b = baseline.predict(normal_variables)
    r = reporting.predict(normal_variables)
    m = int(b.size)
    savings = float(b.sum() - r.sum())
    unc = math.hypot(savings_uncertainty(baseline, m), savings_uncertainty(reporting, m))
    reasons = _verdict((baseline, reporting), savings, unc, baseline.criteria)
    accepted = not reasons
    base = float(b.sum())
    return SavingsReport(
        accepted=accepted,
        reasons=reasons,
        warnings=baseline.out_of_range(normal_variables) + reporting.out_of_range(normal_variables),
        kind="normalised",
        baseline_kwh=base,
        reporting_kwh=float(r.sum()),
        avoided_kwh=savings if accepted else None,
        savings_fraction=savings / base if accepted and base else None,
        uncertainty_kwh=unc if accepted else None,
        fsu=unc / abs(savings) if accepted else None,
        confidence=baseline.criteria.confidence,
        intervals=m,
        cusum=cusum(b, r),
    )
