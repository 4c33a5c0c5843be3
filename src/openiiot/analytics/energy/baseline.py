"""Energy baselines (ISO 50006 EnB, IPMVP Option B/C) with ASHRAE Guideline 14 statistics (B1-B4).

A baseline is an ordinary least-squares regression of energy per interval on relevant variables (air
delivered or production, degree-days from ambient temperature, operating hours, regime indicators). The
fitted model carries its goodness-of-fit statistics and the list of acceptance criteria it fails; savings
(see savings.py) are only reported from a model whose ``failures`` list is empty.

Use::

    model = fit_baseline(energy_kwh, {"air_m3": air, "hours": hours}, interval="daily")
    model.accepted, model.failures, model.cvrmse_pct, model.nmbe_pct, model.r2
    model.predict({"air_m3": air_rep, "hours": hours_rep})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openiiot.analytics.energy.tariffs import local_seconds

Array = NDArray[np.float64]
Interval = Literal["hourly", "daily", "monthly"]


@dataclass(frozen=True, slots=True)
class Criteria:
    """Acceptance criteria of a baseline model and of a savings claim.

    Defaults by interval: ASHRAE Guideline 14 calibration limits, monthly CV(RMSE) <= 15 %, |NMBE| <= 5 %,
    hourly (and daily) CV(RMSE) <= 30 %, |NMBE| <= 10 % [B2]; R² >= 0.75 and >= 12 points [B3, practitioner];
    savings uncertainty < 50 % of the savings at 68 % confidence [B2].
    """

    max_cvrmse_pct: float = 30.0
    max_abs_nmbe_pct: float = 10.0
    min_r2: float = 0.75
    min_points: int = 12
    max_fsu: float = 0.5  # fractional savings uncertainty
    confidence: float = 0.68

    @classmethod
    def for_interval(cls, interval: Interval) -> Criteria:
        """Guideline 14 limits for monthly data, the hourly limits for daily and hourly data."""
        if interval == "monthly":
            return cls(max_cvrmse_pct=15.0, max_abs_nmbe_pct=5.0)
        return cls()


@dataclass(frozen=True, slots=True)
class DegreeDayTerm:
    """A regressor from a temperature variable: heating max(0, base - T), cooling max(0, T - base)."""

    name: str
    source: str
    base: float
    kind: Literal["heating", "cooling"]

    def compute(self, temperature: ArrayLike) -> Array:
        """Degree-days per interval; a 2-D input (interval x sub-interval temperatures, NaN-padded) gives
        the mean of the sub-interval degree-days, e.g. daily degree-days from hourly temperatures."""
        t = np.asarray(temperature, dtype=np.float64)
        d = np.clip(self.base - t if self.kind == "heating" else t - self.base, 0.0, None)
        if d.ndim == 2:
            with np.errstate(invalid="ignore"):
                counts = np.sum(np.isfinite(d), axis=1)
                sums = np.nansum(d, axis=1)
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return d


def degree_days(
    mean_temperature: ArrayLike, base: float, kind: Literal["heating", "cooling"] = "heating"
) -> Array:
    """Degree-days (per interval) of a mean temperature series against a balance-point temperature."""
    return DegreeDayTerm("dd", "t", base, kind).compute(mean_temperature)


def one_hot(
    labels: Sequence[object] | ArrayLike, prefix: str = "", levels: Sequence[object] | None = None
) -> dict[str, Array]:
    """Indicator columns for a categorical variable (regime, weekday), dropping the first level.

    Pass the baseline's ``levels`` when encoding reporting data, so both get the same columns.
    """
    arr = np.asarray(labels)
    names = sorted({str(v) for v in (arr.tolist() if levels is None else levels)})
    s = arr.astype(str)
    return {f"{prefix}{lv}": (s == lv).astype(np.float64) for lv in names[1:]}


def time_of_week(ts_s: ArrayLike, timezone: str, hours_per_bin: int = 1) -> NDArray[np.int64]:
    """Local time-of-week bin of each UTC timestamp (0 = Monday 00:00), for ``one_hot`` indicators.

    168 hourly bins reproduce the occupancy part of CalTRACK's TOWT model (B4); wider bins (e.g. 4 h) give
    shift-by-weekday indicators with fewer parameters.
    """
    local = local_seconds(ts_s, timezone)
    # 1970-01-01 was a Thursday: shift so that Monday 00:00 is bin 0
    hour_of_week = ((local // 3600) + 72) % 168
    return np.asarray(hour_of_week // hours_per_bin, dtype=np.int64)


@dataclass(frozen=True)
class BaselineModel:
    """A fitted OLS baseline with Guideline 14 statistics and its acceptance verdict."""

    names: tuple[str, ...]  # regressors, without the intercept
    coefficients: Array  # intercept first
    interval: Interval
    n: int
    p: int  # parameters including the intercept
    cvrmse_pct: float
    nmbe_pct: float
    r2: float
    adj_r2: float
    rho: float  # lag-1 autocorrelation of the residuals (time order)
    mean_y: float
    ranges: dict[str, tuple[float, float]]  # baseline range of each input variable
    criteria: Criteria
    failures: tuple[str, ...]  # acceptance criteria the model fails, in words
    degree_day_terms: tuple[DegreeDayTerm, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return not self.failures

    def design(self, variables: Mapping[str, ArrayLike]) -> Array:
        """The design matrix (with intercept) for these variables."""
        terms = {t.name: t for t in self.degree_day_terms}
        cols: list[Array] = []
        for name in self.names:
            if name in terms:
                cols.append(terms[name].compute(variables[terms[name].source]))
            else:
                cols.append(np.asarray(variables[name], dtype=np.float64))
        n = len(cols[0]) if cols else len(np.asarray(next(iter(variables.values()))))
        return np.column_stack([np.ones(n), *cols]) if cols else np.ones((n, 1))

    def predict(self, variables: Mapping[str, ArrayLike]) -> Array:
        """Baseline energy per interval under the given conditions (the adjusted baseline)."""
        return np.asarray(self.design(variables) @ self.coefficients, dtype=np.float64)

    def out_of_range(self, variables: Mapping[str, ArrayLike], tolerance: float = 0.05) -> tuple[str, ...]:
        """Variables whose values leave the baseline range by more than ``tolerance`` of that range."""
        out = []
        for name, (lo, hi) in self.ranges.items():
            if name not in variables:
                continue
            v = np.asarray(variables[name], dtype=np.float64)
            span = max(hi - lo, 1e-12) * tolerance
            share = float(np.mean((v < lo - span) | (v > hi + span))) if v.size else 0.0
            if share > 0.05:
                out.append(
                    f"{name}: {share:.0%} of reporting values outside the baseline range [{lo:g}, {hi:g}]"
                )
        return tuple(out)


def goodness_of_fit(y: ArrayLike, y_hat: ArrayLike, p: int) -> tuple[float, float, float, float]:
    """(CV(RMSE) %, NMBE %, R², adjusted R²) per ASHRAE Guideline 14 with n - p degrees of freedom (B2)."""
    a = np.asarray(y, dtype=np.float64)
    f = np.asarray(y_hat, dtype=np.float64)
    n = a.size
    if n <= p:
        raise ValueError(f"need more than {p} points, got {n}")
    r = a - f
    mean = float(a.mean())
    sse = float(r @ r)
    sst = float(((a - mean) ** 2).sum())
    cv = 100.0 * math.sqrt(sse / (n - p)) / mean if mean else math.inf
    nmbe = 100.0 * float(r.sum()) / ((n - p) * mean) if mean else math.inf
    r2 = 1.0 - sse / sst if sst > 0 else 0.0
    adj = 1.0 - (1.0 - r2) * (n - 1) / (n - p) if n > p else math.nan
    return cv, nmbe, r2, adj


def lag1_autocorrelation(residuals: ArrayLike) -> float:
    """Lag-1 autocorrelation coefficient of residuals in time order."""
    r = np.asarray(residuals, dtype=np.float64)
    r = r - r.mean()
    den = float(r @ r)
    return float(r[1:] @ r[:-1]) / den if den > 0 and r.size > 2 else 0.0


def fit_baseline(
    energy: ArrayLike,
    variables: Mapping[str, ArrayLike],
    *,
    interval: Interval = "daily",
    criteria: Criteria | None = None,
    degree_day_terms: Sequence[DegreeDayTerm] = (),
    exclude: Sequence[str] = (),
) -> BaselineModel:
    """Fit energy per interval = b0 + Σ b_i·x_i by OLS and judge it against the acceptance criteria.

    ``variables`` holds the relevant variables by name (same length as ``energy``, in time order). A variable
    used only as the source of a degree-day term (e.g. ``temperature``), or named in ``exclude``, is not
    itself a regressor. Choose variables that the energy measure does not change (IPMVP): production or
    end-use air demand, not the air delivered when the measure cuts leaks or pressure — otherwise the
    baseline "explains away" part of the savings.
    """
    crit = criteria or Criteria.for_interval(interval)
    y = np.asarray(energy, dtype=np.float64)
    dd = tuple(degree_day_terms)
    sources = {t.source for t in dd} | set(exclude)
    names = tuple([k for k in variables if k not in sources] + [t.name for t in dd])
    ranges = {k: _range(v) for k, v in variables.items()}
    keep = np.isfinite(y)
    for v in variables.values():
        a = np.asarray(v, dtype=np.float64)
        keep &= np.isfinite(a) if a.ndim == 1 else np.any(np.isfinite(a), axis=1)
    stub = BaselineModel(names, np.zeros(0), interval, 0, 0, 0, 0, 0, 0, 0, 0, ranges, crit, (), dd)
    x = stub.design({k: np.asarray(v, dtype=np.float64)[keep] for k, v in variables.items()})
    yk = y[keep]
    n, p = x.shape
    if n <= p:
        raise ValueError(f"{n} usable points cannot fit {p} parameters")
    coef, *_ = np.linalg.lstsq(x, yk, rcond=None)
    fitted = x @ coef
    cv, nmbe, r2, adj = goodness_of_fit(yk, fitted, p)
    rho = lag1_autocorrelation(yk - fitted)
    failures = []
    if n < crit.min_points:
        failures.append(f"only {n} baseline points, at least {crit.min_points} required")
    if not cv <= crit.max_cvrmse_pct:
        failures.append(f"CV(RMSE) {cv:.1f} % exceeds {crit.max_cvrmse_pct:g} %")
    if not abs(nmbe) <= crit.max_abs_nmbe_pct:
        failures.append(f"|NMBE| {abs(nmbe):.2f} % exceeds {crit.max_abs_nmbe_pct:g} %")
    if not r2 >= crit.min_r2:
        failures.append(f"R² {r2:.3f} is below {crit.min_r2:g}")
    return BaselineModel(
        names=names,
        coefficients=np.asarray(coef, dtype=np.float64),
        interval=interval,
        n=n,
        p=p,
        cvrmse_pct=cv,
        nmbe_pct=nmbe,
        r2=r2,
        adj_r2=adj,
        rho=rho,
        mean_y=float(yk.mean()),
        ranges=ranges,
        criteria=crit,
        failures=tuple(failures),
        degree_day_terms=dd,
    )


def fit_degree_day_baseline(
    energy: ArrayLike,
    variables: Mapping[str, ArrayLike],
    *,
    temperature: str = "temperature",
    heating_bases: Sequence[float] = tuple(range(30, 91, 3)),
    cooling_bases: Sequence[float] = tuple(range(30, 91, 3)),
    interval: Interval = "daily",
    criteria: Criteria | None = None,
) -> BaselineModel:
    """CalTRACK-style search (B4): intercept-only, HDD, CDD, HDD+CDD over balance points (°F by default).

    Candidates whose degree-day coefficients are not positive are dropped; the highest adjusted R² wins.
    Other entries of ``variables`` (air delivered, production, hours) stay in every candidate.
    """
    best: BaselineModel | None = None
    candidates: list[tuple[DegreeDayTerm, ...]] = [()]
    candidates += [(DegreeDayTerm("hdd", temperature, b, "heating"),) for b in heating_bases]
    candidates += [(DegreeDayTerm("cdd", temperature, b, "cooling"),) for b in cooling_bases]
    candidates += [
        (DegreeDayTerm("hdd", temperature, h, "heating"), DegreeDayTerm("cdd", temperature, c, "cooling"))
        for h in heating_bases
        for c in cooling_bases
        if c >= h
    ]
    for terms in candidates:
        try:
            m = fit_baseline(
                energy,
                variables,
                interval=interval,
                criteria=criteria,
                degree_day_terms=terms,
                exclude=(temperature,),
            )
        except ValueError:
            continue
        k = len(m.names) - len(terms)
        if any(c <= 0 for c in m.coefficients[1 + k :]):
            continue
        if best is None or m.adj_r2 > best.adj_r2:
            best = m
    if best is None:
        raise ValueError("no candidate model could be fitted")
    return best


def _range(v: ArrayLike) -> tuple[float, float]:
    a = np.asarray(v, dtype=np.float64)
    a = a[np.isfinite(a)]
    return (float(a.min()), float(a.max())) if a.size else (math.nan, math.nan)
