"""Baselines and savings: ASHRAE Guideline 14 statistics on hand-computable cases, refusal with reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from openiiot.analytics.energy.baseline import (
    Criteria,
    fit_baseline,
    fit_degree_day_baseline,
    goodness_of_fit,
    lag1_autocorrelation,
    one_hot,
)
from openiiot.analytics.energy.savings import avoided_energy, cusum, normalised_savings, savings_uncertainty


def test_statistics_on_a_hand_computed_case() -> None:
    # y = 2 + 2x fits; residuals -1, 1, -1, 1: SSE 4, n - p = 2, mean 3, SST 8
    m = fit_baseline([1, 3, 3, 5], {"x": [0, 0, 1, 1]}, criteria=Criteria(min_points=2))
    assert m.coefficients == pytest.approx([2.0, 2.0])
    assert m.cvrmse_pct == pytest.approx(100 * math.sqrt(4 / 2) / 3)
    assert m.nmbe_pct == pytest.approx(0.0, abs=1e-9)
    assert m.r2 == pytest.approx(0.5)
    assert m.rho == pytest.approx(-0.75)
    assert not m.accepted
    assert any("R²" in f for f in m.failures) and any("CV(RMSE)" in f for f in m.failures)


def test_nmbe_and_cvrmse_of_biased_predictions() -> None:
    cv, nmbe, _, _ = goodness_of_fit([10, 10, 10, 10], [9, 9, 9, 9], p=1)
    assert nmbe == pytest.approx(100 * 4 / (3 * 10))
    assert cv == pytest.approx(100 * math.sqrt(4 / 3) / 10)


def test_lag1_autocorrelation_of_a_trend_is_positive() -> None:
    assert lag1_autocorrelation(np.sin(np.linspace(0, 3, 50))) > 0.8


def test_fractional_savings_uncertainty_formula() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(50, 100, 60)
    m = fit_baseline(200 + 3 * x + rng.normal(0, 5, 60), {"air": x}, interval="hourly")
    n_eff = m.n * (1 - max(m.rho, 0)) / (1 + max(m.rho, 0))
    t = stats.t.ppf(0.84, m.n - 2)
    expected = t * 1.26 * m.cvrmse_pct / 100 * m.mean_y * math.sqrt(m.n / n_eff * (1 + 2 / n_eff) * 24)
    assert savings_uncertainty(m, 24) == pytest.approx(expected)
    assert savings_uncertainty(m, 24, confidence=0.9) > savings_uncertainty(m, 24)


def _station_days(
    rng: np.random.Generator, days: int, factor: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    air = rng.uniform(8_000, 12_000, days)  # m³/day
    hours = rng.choice([16.0, 24.0], days)
    kwh = factor * (300 + 0.11 * air + 20 * hours) + rng.normal(0, 25, days)
    return {"air_m3": air, "hours": hours}, kwh


def test_known_ten_percent_saving_is_recovered_with_uncertainty() -> None:
    rng = np.random.default_rng(7)
    xb, yb = _station_days(rng, 180, 1.0)
    xr, yr = _station_days(rng, 90, 0.9)
    model = fit_baseline(yb, xb, interval="daily")
    assert model.accepted, model.failures
    rep = avoided_energy(model, xr, yr)
    assert rep.accepted, rep.reasons
    assert rep.savings_fraction == pytest.approx(0.10, abs=0.01)
    assert rep.uncertainty_kwh is not None and 0 < rep.uncertainty_kwh < 0.5 * rep.avoided_kwh  # type: ignore[operator]
    assert rep.cusum[-1] == pytest.approx(rep.avoided_kwh)


def test_refuses_savings_from_a_model_that_fails_the_criteria() -> None:
    rng = np.random.default_rng(3)
    air = rng.uniform(8_000, 12_000, 100)
    kwh = rng.normal(1500, 400, 100)  # energy unrelated to air
    model = fit_baseline(kwh, {"air_m3": air}, interval="daily")
    rep = avoided_energy(model, {"air_m3": air[:30]}, kwh[:30] * 0.8)
    assert not rep.accepted
    assert rep.avoided_kwh is None and rep.uncertainty_kwh is None
    assert any("R²" in r for r in rep.reasons)


def test_refuses_savings_within_their_uncertainty() -> None:
    rng = np.random.default_rng(11)
    xb, yb = _station_days(rng, 180, 1.0)
    xr, yr = _station_days(rng, 10, 0.998)
    rep = avoided_energy(fit_baseline(yb, xb, interval="daily"), xr, yr)
    assert not rep.accepted
    assert any("uncertainty" in r for r in rep.reasons)


def test_normalised_savings_under_fixed_conditions() -> None:
    rng = np.random.default_rng(5)
    xb, yb = _station_days(rng, 180, 1.0)
    xr, yr = _station_days(rng, 180, 0.85)
    normal = {"air_m3": np.full(365, 10_000.0), "hours": np.full(365, 20.0)}
    rep = normalised_savings(fit_baseline(yb, xb), fit_baseline(yr, xr), normal)
    assert rep.accepted, rep.reasons
    assert rep.savings_fraction == pytest.approx(0.15, abs=0.01)


def test_degree_day_search_finds_the_balance_points() -> None:
    rng = np.random.default_rng(2)
    temp = rng.uniform(0, 95, 400)
    kwh = 20 + 1.5 * np.clip(60 - temp, 0, None) + 2.0 * np.clip(temp - 72, 0, None) + rng.normal(0, 1, 400)
    m = fit_degree_day_baseline(kwh, {"temperature": temp})
    bases = {t.name: t.base for t in m.degree_day_terms}
    assert bases["hdd"] == pytest.approx(60, abs=3) and bases["cdd"] == pytest.approx(72, abs=3)
    assert m.accepted
    assert "temperature" not in m.names


def test_one_hot_drops_the_first_level() -> None:
    cols = one_hot(["light", "max", "medium", "light"], prefix="load_")
    assert set(cols) == {"load_max", "load_medium"}
    assert cols["load_max"].tolist() == [0, 1, 0, 0]
    later = one_hot(["max", "max"], prefix="load_", levels=["light", "max", "medium"])
    assert set(later) == set(cols) and later["load_medium"].tolist() == [0, 0]


def test_cusum_accumulates_predicted_minus_actual() -> None:
    assert cusum([10, 10, 10], [9, 10, 12]).tolist() == [1, 1, -1]


def test_daily_degree_days_from_hourly_temperatures() -> None:
    from openiiot.analytics.energy.baseline import DegreeDayTerm

    hourly = np.array([[50.0] * 12 + [70.0] * 12, [64.0] * 23 + [np.nan]])  # a day with a missing hour
    hdd = DegreeDayTerm("hdd", "t", 60.0, "heating").compute(hourly)
    assert hdd.tolist() == pytest.approx([5.0, 0.0])  # mean of hourly degree-hours, not of the mean temp
    cdd = DegreeDayTerm("cdd", "t", 60.0, "cooling").compute(hourly)
    assert cdd.tolist() == pytest.approx([5.0, 4.0])


def test_time_of_week_bins_in_local_time() -> None:
    from datetime import datetime, timedelta, timezone

    from openiiot.analytics.energy.baseline import time_of_week

    monday = datetime(2026, 6, 1, tzinfo=timezone(timedelta(hours=8)))  # a Monday, local midnight
    ts = [(monday + timedelta(hours=h)).timestamp() for h in (0, 1, 25, 167, 168)]
    assert time_of_week(ts, "Asia/Shanghai").tolist() == [0, 1, 25, 167, 0]
    assert time_of_week(ts, "Asia/Shanghai", hours_per_bin=4).tolist() == [0, 0, 6, 41, 0]


def test_shift_by_weekday_baseline_recovers_a_saving() -> None:
    from openiiot.analytics.energy.baseline import time_of_week

    rng = np.random.default_rng(12)
    hours = 24 * 7 * 8
    ts = 1_780_000_000.0 + 3600.0 * np.arange(hours)
    tow = time_of_week(ts, "Asia/Shanghai", hours_per_bin=4)
    profile = rng.uniform(200, 600, 42)  # kWh per hour by 4-h bin of the week
    base = profile[tow] + rng.normal(0, 20, hours)
    model = fit_baseline(base, one_hot(tow, prefix="tow_"), interval="hourly")
    assert model.accepted, model.failures
    rep = avoided_energy(model, one_hot(tow, prefix="tow_"), 0.9 * profile[tow])
    assert rep.accepted and rep.savings_fraction == pytest.approx(0.10, abs=0.01)
