"""Tariffs, cost arithmetic, carbon factors and leak estimates (domain-methods A3, B3, B5)."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from openiiot.analytics.energy.carbon import CarbonFactors, carbon
from openiiot.analytics.energy.leaks import (
    leak_fraction_timed,
    leaks_from_no_demand,
    leaks_from_pressure_decay,
    sourcebook_decay_flow_m3_min,
)
from openiiot.analytics.energy.tariffs import (
    TariffError,
    energy_cost,
    load_tariff,
    parse_tariff,
    sample_tariff_path,
)

CST = timezone(timedelta(hours=8))


def _ts(*args: int) -> float:
    return datetime(*args, tzinfo=CST).timestamp()


def _sample() -> dict[str, Any]:
    return tomllib.loads(sample_tariff_path().read_text(encoding="utf-8"))


def test_sample_tariff_states_its_source_and_ratios() -> None:
    t = load_tariff(sample_tariff_path())
    assert "Zhejiang" in t.source
    flat = t.prices["flat"]
    ratios = [t.prices[p] / flat for p in ("critical_peak", "peak", "flat", "valley", "deep_valley")]
    assert ratios == pytest.approx([2.05, 1.85, 1.0, 0.4, 0.2])
    assert t.prices["peak"] / t.prices["valley"] >= 4.0  # NDRC 1093: peak:valley >= 4:1 (B5)


@pytest.mark.parametrize(
    ("when", "period"),
    [
        ((2026, 7, 15, 19, 0), "critical_peak"),  # summer evening
        ((2026, 7, 15, 17, 0), "peak"),
        ((2026, 4, 15, 19, 0), "peak"),  # spring: no critical peak
        ((2026, 4, 15, 12, 0), "valley"),  # midday valley
        ((2026, 4, 15, 9, 0), "flat"),
        ((2026, 5, 2, 10, 0), "deep_valley"),  # Labour Day holiday
        ((2026, 12, 31, 23, 30), "flat"),
    ],
)
def test_periods_by_season_and_special_day(when: tuple[int, ...], period: str) -> None:
    t = load_tariff(sample_tariff_path())
    assert t.period_names[int(t.periods_at([_ts(*when)])[0])] == period


def test_cost_arithmetic_by_period_and_demand_charge() -> None:
    t = parse_tariff(
        {
            "name": "test",
            "timezone": "Asia/Shanghai",
            "source": "hand-made",
            "prices": {"peak": 1.0, "flat": 0.6, "valley": 0.3},
            "demand_charge": {"per_kw_month": 40.0},
            "seasons": [
                {
                    "months": list(range(1, 13)),
                    "periods": [
                        {"from": "22:00", "to": "06:00", "period": "valley"},  # crosses midnight
                        {"from": "08:00", "to": "12:00", "period": "peak"},
                    ],
                }
            ],
        }
    )
    ts = [_ts(2026, 3, 1, h) for h in range(24)]
    kwh = np.full(24, 100.0)
    kwh[9] = 150.0  # the month's highest hour: 150 kW
    c = energy_cost(t, ts, kwh, 3600.0)
    assert c.kwh_by_period == {"valley": 800.0, "peak": 450.0, "flat": 1200.0}
    assert c.energy_cost == pytest.approx(800 * 0.3 + 450 * 1.0 + 1200 * 0.6)
    assert c.demand_cost == pytest.approx(150 * 40.0)
    assert c.total_cost == pytest.approx(c.energy_cost + 6000.0)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("timezone"), "timezone"),
        (lambda d: d.__setitem__("timezone", "Mars/Base"), "timezone"),
        (lambda d: d["ratios"].__setitem__("peak", "high"), "ratios.peak"),
        (lambda d: d["seasons"][1]["periods"][2].__setitem__("to", "25:00"), "seasons[1].periods[2].to"),
        (
            lambda d: d["seasons"][0]["periods"][0].__setitem__("period", "super"),
            "seasons[0].periods[0].period",
        ),
        (lambda d: d["seasons"][0]["months"].remove(2), "seasons"),
        (lambda d: d["seasons"][0]["months"].append(7), "seasons[1].months"),
        (lambda d: d["seasons"][0]["periods"][1].__setitem__("from", "06:00"), "seasons[0].periods[1]"),
        (lambda d: d["demand_charge"].__setitem__("per_kw_month", -1), "demand_charge.per_kw_month"),
        (lambda d: d["special_days"][0]["dates"].append("2026-13-01"), "special_days[0].dates"),
    ],
)
def test_bad_tariff_names_the_bad_field(edit: Any, field: str) -> None:
    data = _sample()
    edit(data)
    with pytest.raises(TariffError) as err:
        parse_tariff(data)
    assert err.value.field == field


def test_bad_toml_is_reported(tmp_path: Any) -> None:
    p = tmp_path / "t.toml"
    p.write_text("name = ", encoding="utf-8")
    with pytest.raises(TariffError):
        load_tariff(p)


def test_carbon_defaults_and_custom_factors() -> None:
    c = carbon(1_300_000)  # the mission's 1.3 GWh
    assert c.coal_tce == pytest.approx(1_300_000 * 0.1229 / 1000)
    assert pytest.approx(0.1229, abs=5e-5) == 860 / 7000  # GB/T 2589: 860 kcal per kWh / 7000 kcal per kgce
    assert c.co2_t == pytest.approx(1_300_000 * 0.5703 / 1000)
    assert carbon([500.0, 500.0], CarbonFactors(0.3, 0.8)).co2_t == pytest.approx(0.8)
    with pytest.raises(ValueError):
        CarbonFactors(co2_kg_per_kwh=-1)


def test_timed_leak_fraction() -> None:
    assert leak_fraction_timed(30, 90) == pytest.approx(0.25)
    assert math.isnan(leak_fraction_timed(0, 0))


def test_leaks_from_no_demand_with_two_compressors() -> None:
    ts = np.arange(120) * 60.0
    a = np.array([2, 1, 1, 1] * 30)  # loaded 25 % of the time
    b = np.zeros(120)  # off
    night = np.ones(120, dtype=bool)
    est = leaks_from_no_demand(
        ts, [a, b], [20.0, 10.0], night, specific_power_kw_per_m3_min=6.0, price_per_kwh=0.5
    )
    assert est.flow_m3_min == pytest.approx(5.0)
    assert est.power_kw == pytest.approx(30.0)
    assert est.energy_kwh_per_year == pytest.approx(30.0 * 8760)
    assert est.cost_per_year == pytest.approx(30.0 * 8760 * 0.5)
    # test at 7.5 barg, reported at 6.5 barg operating pressure: flow scales with absolute pressure
    est2 = leaks_from_no_demand(
        ts, [a, b], [20.0, 10.0], night, header_pressure_barg=np.full(120, 7.5), operating_barg=6.5
    )
    assert est2.flow_m3_min == pytest.approx(5.0 * 7.51325 / 8.51325)
    # a VSD loaded all night at 6 m³/min of its 20 rated: the metered flow is used, not the rating
    vsd = np.full(120, 2)
    est3 = leaks_from_no_demand(ts, [vsd], [20.0], night, flows_m3_min=[np.full(120, 6.0)])
    assert est3.flow_m3_min == pytest.approx(6.0)
    assert est3.method.startswith("metered")


def test_pressure_decay_recovers_a_choked_leak() -> None:
    volume, q_op, p_op = 10.0, 4.0, 7.0  # m³, m³/min at 7 barg
    t = np.arange(0, 301, 5.0)  # 5 min at 5 s
    s = -q_op * 1.01325 / (volume * (p_op + 1.01325))
    p = (p_op + 1.01325) * np.exp(s * t / 60.0) - 1.01325
    est = leaks_from_pressure_decay(volume, t, p, operating_barg=p_op)
    assert est.flow_m3_min == pytest.approx(q_op, rel=1e-6)
    assert "sourcebook" in est.detail


def test_sourcebook_decay_formula() -> None:
    # 10 m³ from 7 to 3.5 barg in 5 min: 1.25·10·3.5/(5·1.013)
    assert sourcebook_decay_flow_m3_min(10, 7, 3.5, 5) == pytest.approx(1.25 * 10 * 3.5 / (5 * 1.01325))


def test_local_time_follows_daylight_saving_changes() -> None:
    from zoneinfo import ZoneInfo

    from openiiot.analytics.energy.tariffs import local_seconds

    start = datetime(2026, 3, 27, tzinfo=UTC).timestamp()  # Europe changes clocks on 29 March
    ts = start + 900.0 * np.arange(4 * 24 * 5)
    tz = ZoneInfo("Europe/Berlin")
    expected = [
        int(datetime.fromtimestamp(t, UTC).astimezone(tz).replace(tzinfo=UTC).timestamp()) for t in ts
    ]
    assert local_seconds(ts, "Europe/Berlin").tolist() == expected


def test_station_savings_report_prices_and_refuses() -> None:
    from openiiot.analytics.energy.baseline import fit_baseline
    from openiiot.analytics.energy.report import station_savings_report

    rng = np.random.default_rng(9)
    hours = 24 * 60
    ts = _ts(2026, 3, 1, 0) + 3600.0 * np.arange(hours)
    air_b, air_r = rng.uniform(600, 1200, hours), rng.uniform(600, 1200, hours)
    model = fit_baseline(0.1 * air_b + 20 + rng.normal(0, 2, hours), {"air_m3": air_b}, interval="hourly")
    tariff = load_tariff(sample_tariff_path())
    rep = station_savings_report(
        model, ts, {"air_m3": air_r}, 0.8 * (0.1 * air_r + 20), interval_s=3600.0, tariff=tariff
    )
    assert rep.savings.accepted
    assert rep.savings.savings_fraction == pytest.approx(0.2, abs=0.01)
    assert rep.cost_saved_share == pytest.approx(0.2, abs=0.01)
    assert rep.carbon_saved is not None and rep.carbon_saved.co2_t > 0
    assert "Avoided energy" in rep.summary() and "CNY" in rep.summary()
    bad = station_savings_report(
        model, ts[:5], {"air_m3": air_r[:5]}, air_r[:5] * 0.1 + 20, interval_s=3600.0, tariff=tariff
    )
    assert not bad.savings.accepted and bad.cost_saved is None
    assert bad.summary().startswith("No savings reported")
