"""Sequencing plan (MILP vs exhaustive search) and the savings measures (domain-methods A2, A4, A5)."""

from __future__ import annotations

import numpy as np
import pytest

from openiiot.analytics.energy.kpis import pressure_power_ratio
from openiiot.analytics.energy.sequencing import (
    Compressor,
    leak_repair_measure,
    plan_sequence,
    pressure_reduction_measure,
    sequencing_measure,
)

STATION = [
    Compressor("C1", 20.0, 125.0, unloaded_share=0.25),
    Compressor("C2", 20.0, 125.0, unloaded_share=0.25),
    Compressor("C3", 12.0, 80.0, unloaded_share=0.30),
    Compressor("V1", 18.0, 115.0, kind="vsd", min_flow_m3_min=5.0, min_flow_kw=38.0),
]


def test_single_fixed_unit_trims_by_load_unload() -> None:
    plan = plan_sequence([Compressor("C", 20.0, 100.0, rated_pressure_barg=7.0)], [10.0], pressure_barg=7.0)
    step = plan.steps[0]
    assert step.modes == ("trim",)
    assert step.power_kw == pytest.approx(100 * (0.25 + 0.75 * 0.5))  # P = C + u(1 - C), A2


def test_vsd_trims_and_fixed_units_run_fully_loaded() -> None:
    step = plan_sequence(STATION, [30.0], pressure_barg=7.0).steps[0]
    assert sorted(step.modes) == ["base", "off", "off", "vsd"]
    assert sum(step.flows_m3_min) == pytest.approx(30.0)


def test_milp_matches_exhaustive_search_and_covers_demand() -> None:
    demand = np.random.default_rng(4).uniform(2.0, 68.0, 40)
    milp = plan_sequence(STATION, demand, pressure_barg=6.5)
    brute = plan_sequence(STATION, demand, pressure_barg=6.5, method="exhaustive")
    assert milp.energy_kwh == pytest.approx(brute.energy_kwh, rel=1e-6)
    for s, d in zip(milp.steps, demand, strict=True):
        assert sum(s.flows_m3_min) >= round(d, 2) - 1e-6
        assert s.modes.count("trim") <= 1
        assert s.shortfall_m3_min == pytest.approx(0.0, abs=1e-9)


def test_auto_method_gives_the_same_plan() -> None:
    demand = [12.0, 33.0, 51.0]
    auto = plan_sequence(STATION, demand, method="auto")
    assert auto.method == "exhaustive"  # 3^3 x 2 = 54 combinations
    assert auto.energy_kwh == pytest.approx(plan_sequence(STATION, demand).energy_kwh, rel=1e-6)


def test_demand_above_capacity_is_reported_as_shortfall() -> None:
    step = plan_sequence(STATION, [80.0]).steps[0]
    assert step.shortfall_m3_min == pytest.approx(80.0 - 70.0)
    assert plan_sequence(STATION, [80.0], method="exhaustive").steps[0].shortfall_m3_min == pytest.approx(
        10.0
    )


def test_lower_set_point_lowers_planned_energy() -> None:
    high = plan_sequence(STATION, [45.0], pressure_barg=7.0).energy_kwh
    low = plan_sequence(STATION, [45.0], pressure_barg=6.0).energy_kwh
    assert low / high == pytest.approx(pressure_power_ratio(7.0, 6.0), rel=1e-6)


def test_pressure_reduction_measure_uses_the_measur_rule() -> None:
    m = pressure_reduction_measure(1_000_000, 7.0, 6.0, price_per_kwh=0.7)
    assert m.kwh_per_year == pytest.approx(1_000_000 * 0.084, rel=0.01)
    assert m.cost_per_year == pytest.approx(m.kwh_per_year * 0.7)
    with_leaks = pressure_reduction_measure(1_000_000, 7.0, 6.0, unregulated_share=0.3)
    extra = 1_000_000 * pressure_power_ratio(7, 6) * 0.3 * (1 - 7.01325 / 8.01325)
    assert with_leaks.kwh_per_year == pytest.approx(m.kwh_per_year + extra)


def test_leak_repair_and_sequencing_measures() -> None:
    m = leak_repair_measure(5.0, repaired_share=0.7, specific_power_kw_per_m3_min=6.5, price_per_kwh=0.6)
    assert m.kwh_per_year == pytest.approx(5.0 * 0.7 * 6.5 * 8760)
    assert m.cost_per_year == pytest.approx(m.kwh_per_year * 0.6)
    plan = plan_sequence(STATION, [30.0, 50.0], hours_per_step=1.0)
    s = sequencing_measure(2_000_000, plan, steps_per_year=8760)
    assert s.kwh_per_year == pytest.approx(2_000_000 - plan.energy_kwh * 8760 / 2)


def test_invalid_units_are_rejected() -> None:
    with pytest.raises(ValueError):
        Compressor("bad", 0.0, 100.0)
    with pytest.raises(ValueError):
        Compressor("v", 10.0, 60.0, kind="vsd", min_flow_m3_min=12.0)
