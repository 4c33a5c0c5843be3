"""OEE, MTBF/MTTR and reducer life against hand-worked reference values (domain-methods D and E3)."""

from __future__ import annotations

import pytest

from openiiot.analytics.production import oee, reducer_life, reliability
from openiiot.analytics.production.oee import CountSpan, State, StateInterval

MIN = 60.0


def _vorne_shift() -> tuple[list[StateInterval], list[CountSpan]]:
    # The textbook OEE example (oee.com): 480 min shift, 60 min of breaks, 47 min down, ideal cycle 1.0 s,
    # 19 271 made of which 18 848 good.
    iv = [
        StateInterval(0, 15 * MIN, State.PLANNED_STOP, "break"),
        StateInterval(15 * MIN, 200 * MIN, State.PRODUCING),
        StateInterval(200 * MIN, 230 * MIN, State.PLANNED_STOP, "meal"),
        StateInterval(230 * MIN, 262 * MIN, State.DOWN, "jam"),
        StateInterval(262 * MIN, 450 * MIN, State.PRODUCING),
        StateInterval(450 * MIN, 465 * MIN, State.SETUP),
        StateInterval(465 * MIN, 480 * MIN, State.PLANNED_STOP, "break"),
    ]
    counts = [CountSpan(0, 480 * MIN, 19_271, 18_848)]
    return iv, counts


def test_oee_textbook_example() -> None:
    iv, counts = _vorne_shift()
    r = oee.compute(iv, counts, ideal_cycle_s=1.0)
    assert r.planned_busy_s == 420 * MIN and r.production_s == 373 * MIN
    assert r.availability == pytest.approx(0.8881, abs=1e-4)
    assert r.performance == pytest.approx(0.8611, abs=1e-4)
    assert r.quality == pytest.approx(0.9780, abs=1e-4)
    assert r.oee == pytest.approx(0.7479, abs=1e-4)
    assert r.downtime_by_reason == {"jam": 32 * MIN, "setup": 15 * MIN}


def test_oee_by_period_splits_time_and_counts_at_the_boundary() -> None:
    iv, counts = _vorne_shift()
    first, second = oee.by_period(iv, counts, 1.0, [0, 240 * MIN, 480 * MIN])
    assert first.planned_busy_s + second.planned_busy_s == 420 * MIN
    assert first.production_s == 185 * MIN and first.availability == pytest.approx(185 / 195)
    assert first.produced + second.produced == pytest.approx(19_271)
    assert first.produced == pytest.approx(19_271 / 2)  # a count span is shared by overlap


def test_oee_without_quality_data_has_no_oee_and_bad_input_is_rejected() -> None:
    r = oee.compute([StateInterval(0, 100, State.PRODUCING)], [CountSpan(0, 100, 8)], ideal_cycle_s=10)
    assert r.availability == 1.0 and r.performance == pytest.approx(0.8)
    assert r.quality is None and r.oee is None
    mixed = oee.compute(
        [StateInterval(0, 100, State.PRODUCING)],
        [CountSpan(0, 50, 4), CountSpan(50, 100, 2, ideal_cycle_s=20)],
        ideal_cycle_s=10,
    )
    assert mixed.ideal_run_s == 80 and mixed.performance == pytest.approx(0.8)  # sum of PRI x PQ / APT
    with pytest.raises(ValueError):
        StateInterval(10, 5, State.DOWN)
    with pytest.raises(ValueError):
        CountSpan(0, 1, 5, good=6)
    with pytest.raises(ValueError):
        oee.compute([], [], ideal_cycle_s=0)


def test_mtbf_both_definitions_and_mttr() -> None:
    # 1000 h with four failures repaired in 2, 3, 5 and 10 h.
    h = 3600.0
    downs = [(100 * h, 102 * h), (300 * h, 303 * h), (500 * h, 505 * h), (800 * h, 810 * h)]
    r = reliability.from_downtimes(1000 * h, downs)
    assert r.operating_s == 980 * h and r.failures == 4
    assert r.mtbf_operating_s == pytest.approx(245 * h)  # operating time / failures
    assert r.mtbf_iso22400_s == pytest.approx(196 * h)  # operating time / (failures + 1)
    assert r.mttr_s == pytest.approx(5 * h)
    assert r.mtbf_cycle_s == pytest.approx(250 * h)
    assert r.availability == pytest.approx(0.98)
    none = reliability.from_downtimes(1000 * h, [])
    assert none.mtbf_operating_s is None and none.mtbf_iso22400_s == 1000 * h and none.mttr_s is None


def test_harmonic_drive_cubic_law() -> None:
    rating = reducer_life.harmonic_drive(100.0, series="CSF")
    rated = reducer_life.life_use(rating, [100.0], [2000.0], [3600.0])
    assert rated.life_h == pytest.approx(7000) and rated.consumed == pytest.approx(1 / 7000)
    half = reducer_life.life_use(rating, [50.0], [2000.0], [3600.0])
    assert half.life_h == pytest.approx(8 * 7000)  # (T_r / T_av)^3 = 8
    # Half the time at rated load and speed, half at 50 N·m and 1000 r/min:
    # T_av = [(2000·100³ + 1000·50³) / 3000]^(1/3) = 89.14 N·m, n_av = 1500 r/min,
    # L_h = 7000 · (100 / 89.14)³ · (2000 / 1500) = 13 176.5 h.
    mixed = reducer_life.life_use(rating, [100.0, -50.0], [2000.0, -1000.0], 1800.0)
    assert mixed.equivalent_torque_nm == pytest.approx(89.14, abs=0.01)
    assert mixed.mean_speed_rpm == pytest.approx(1500)
    assert mixed.life_h == pytest.approx(13_176.5, abs=0.1)
    assert mixed.consumed == pytest.approx(1 / 13_176.5, rel=1e-5)
    assert reducer_life.harmonic_drive(100.0, series="CSG").rated_life_h == 10_000


def test_rv_reducer_ten_thirds_law() -> None:
    rating = reducer_life.rv_reducer(1000.0)
    assert reducer_life.life_use(rating, [1000.0], [15.0], [3600.0]).life_h == pytest.approx(6000)
    half = reducer_life.life_use(rating, [500.0], [15.0], [3600.0])
    assert half.life_h == pytest.approx(6000 * 2 ** (10 / 3))  # 60 475 h
    slow = reducer_life.life_use(rating, [1000.0], [7.5], [3600.0])
    assert slow.life_h == pytest.approx(12_000)
    idle = reducer_life.life_use(rating, [800.0], [0.0], [3600.0])
    assert idle.consumed == 0 and idle.life_h == float("inf")
    assert half.remaining_h == pytest.approx(half.life_h - 1)
