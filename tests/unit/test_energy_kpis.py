"""Compressed-air KPIs against the reference values of domain-methods A1, A4, A5."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openiiot.analytics.energy import kpis


@pytest.mark.parametrize(("barg", "kw"), [(6, 4.36), (7, 4.76), (8, 5.13), (10, 5.78)])
def test_isentropic_power_per_m3_min_matches_reference(barg: float, kw: float) -> None:
    assert float(kpis.isentropic_power_kw(1.0, barg)) == pytest.approx(kw, abs=0.006)


def test_package_efficiency_example() -> None:
    # 6.0 kW/(m³/min) at 7 barg -> 79 % (A1)
    assert float(kpis.isentropic_power_kw(1.0, 7.0)) / 6.0 == pytest.approx(0.79, abs=0.005)


@pytest.mark.parametrize(("sp", "per100"), [(5.65, 16), (6.00, 17), (6.36, 18), (7.06, 20), (1.0, 2.832)])
def test_specific_power_unit_conversion(sp: float, per100: float) -> None:
    assert kpis.to_kw_per_100cfm(sp) == pytest.approx(per100, abs=0.01)


def test_measur_example_specific_power() -> None:
    # 100 hp screw: 457 acfm, 89.5 kW -> 19.6 kW/100 cfm = 6.9 kW/(m³/min)
    sp = 89.5 / (457 / kpis.CFM_PER_M3_MIN)
    assert sp == pytest.approx(6.9, abs=0.05)
    assert kpis.to_kw_per_100cfm(sp) == pytest.approx(19.6, abs=0.05)


@pytest.mark.parametrize(
    ("cfm", "vsd", "ref", "minimum"),
    [
        (100, False, 0.669, 0.620),
        (100, True, 0.610, 0.572),
        (500, False, 0.754, 0.717),
        (500, True, 0.725, 0.698),
    ],
)
def test_doe_efficiency_check_values(cfm: float, vsd: bool, ref: float, minimum: float) -> None:
    assert kpis.doe_reference_efficiency(cfm, variable_speed=vsd) == pytest.approx(ref, abs=0.0015)
    assert kpis.doe_min_efficiency(cfm, variable_speed=vsd) == pytest.approx(minimum, abs=0.0015)


@pytest.mark.parametrize(
    ("p_from", "p_to", "change"),
    [(100 / kpis.PSI_PER_BAR, 98 / kpis.PSI_PER_BAR, -0.0113), (7, 6, -0.084), (8, 7, -0.071)],
)
def test_measur_pressure_reduction_check_values(p_from: float, p_to: float, change: float) -> None:
    assert kpis.pressure_power_ratio(p_from, p_to) - 1 == pytest.approx(change, abs=0.0006)


def _one_hour() -> tuple[np.ndarray, ...]:
    ts = np.arange(60) * 60.0  # 1-min samples
    state = np.array([2] * 10 + [1] * 10 + [2] * 20 + [1] * 10 + [0] * 10)
    power = np.where(state == 2, 100.0, np.where(state == 1, 25.0, 0.0))
    flow = np.where(state == 2, 15.0, 0.0)
    pressure = np.full(60, 7.0)
    return ts, power, state, flow, pressure


def test_compressor_kpis_on_a_hand_computed_hour() -> None:
    ts, power, state, flow, pressure = _one_hour()
    k = kpis.compressor_kpis(ts, power, state, flow, pressure, full_load_kw=100.0)
    assert k.hours_loaded == pytest.approx(0.5)
    assert k.hours_unloaded == pytest.approx(20 / 60)
    assert k.hours_off == pytest.approx(10 / 60)
    assert k.energy_kwh == pytest.approx(50 + 25 * 20 / 60)
    assert k.energy_unloaded_kwh == pytest.approx(25 * 20 / 60)
    assert k.air_m3 == pytest.approx(15 * 30)
    assert k.specific_power_loaded_kw_per_m3_min == pytest.approx(100 / 15)
    assert k.specific_power_kw_per_m3_min == pytest.approx(60 * k.energy_kwh / 450)
    assert k.loaded_fraction == pytest.approx(0.6)
    assert k.load_factor == pytest.approx((50 + 25 * 20 / 60) / (50 / 60) / 100)
    assert k.cycles_per_hour == pytest.approx(1 / (50 / 60))  # one unloaded -> loaded transition
    assert k.isentropic_efficiency == pytest.approx(4.761 * 15 * 0.5 / k.energy_kwh, rel=1e-3)


def test_station_kpis_and_excess_pressure() -> None:
    ts, power, state, flow, _ = _one_hour()
    a = kpis.compressor_kpis(ts, power, state, flow, np.full(60, 7.0), name="a")
    b = kpis.compressor_kpis(ts, power / 2, state, flow / 2, np.full(60, 7.0), name="b")
    header = np.full(60, 7.0)
    s = kpis.station_kpis([a, b], ts, header, required_barg=6.0)
    assert s.energy_kwh == pytest.approx(1.5 * a.energy_kwh)
    assert s.specific_power_kw_per_m3_min == pytest.approx(a.specific_power_kw_per_m3_min)
    assert s.pressure is not None
    assert s.pressure.excess_bar == pytest.approx(1.0)
    assert s.pressure.band_bar == pytest.approx(0.0)
    assert s.pressure.excess_power_share == pytest.approx(0.084, abs=0.001)
    assert s.isentropic_specific_power_kw_per_m3_min == pytest.approx(4.76, abs=0.01)


def test_pressure_band_without_required_pressure() -> None:
    ts = np.arange(100) * 10.0
    p = 6.5 + 0.5 * (np.arange(100) % 10) / 9  # saw-tooth 6.5..7.0 barg
    k = kpis.pressure_kpis(ts, p, None)
    assert k.min_barg == pytest.approx(6.5) and k.max_barg == pytest.approx(7.0)
    assert k.band_bar == pytest.approx(0.5)
    assert math.isnan(k.excess_bar) and math.isnan(k.excess_power_share)
    assert kpis.pressure_kpis(ts, p, 6.5).excess_bar == pytest.approx(0.25)


def test_control_gap_static_and_observed() -> None:
    # VSD 4..12 m³/min controls 8 m³/min; a 10 m³/min fixed step leaves a 2 m³/min gap
    assert kpis.control_gap_m3_min(12, 4, [10, 6]) == pytest.approx(2.0)
    assert kpis.control_gap_m3_min(12, 2, [10]) == 0.0
    ts = np.arange(4) * 60.0
    frac = kpis.control_gap_fraction(ts, [2, 2, 1, 2], [4.0, 8.0, 0.0, 12.0], 4.0, [[1, 2, 1, 2]])
    assert frac == pytest.approx(0.5)


def test_no_air_gives_nan_specific_power() -> None:
    assert math.isnan(kpis.specific_power_kw_per_m3_min(10.0, 0.0))


def test_analyse_station_in_one_call() -> None:
    ts, power, state, flow, pressure = _one_hour()
    vsd_state = np.full(60, 2)  # the VSD runs loaded all hour, at turndown while C1 is unloaded
    vsd_flow = np.where(state == 1, 4.0, 10.0)
    rep = kpis.analyse_station(
        ts,
        [
            kpis.CompressorSeries("C1", power, state, flow, pressure),
            kpis.CompressorSeries("V1", vsd_flow * 6, vsd_state, vsd_flow, pressure, vsd_min_flow_m3_min=4.0),
        ],
        header_pressure_barg=np.full(60, 6.8),
        required_barg=6.0,
    )
    assert [c.name for c in rep.kpis.compressors] == ["C1", "V1"]
    assert rep.control_gap_fraction == pytest.approx(20 / 60)
    assert rep.kpis.pressure is not None and rep.kpis.pressure.excess_bar == pytest.approx(0.8)
