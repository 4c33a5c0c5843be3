"""Pure core of the condition job: burst features against closed-form values, and the monitor's scores,
health index and RUL on synthetic data with a known answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from openiiot.analytics.condition.bearing import BEARINGS, defect_frequencies
from openiiot.analytics.condition.monitor import ConditionMonitor, MonitorSettings, burst_features

FS = 8192.0


def test_features_of_a_sine_match_closed_form_values() -> None:
    t = np.arange(4096) / FS
    x = 10.0 * np.sin(2 * np.pi * 100.0 * t)  # 10 m/s² peak at 100 Hz
    f = burst_features(x, FS, None, band=(2000.0, 4000.0))
    assert f["velocity_rms"] == pytest.approx(10.0 / (2 * np.pi * 100.0) / math.sqrt(2) * 1000, rel=0.01)
    assert f["accel_rms"] == pytest.approx(10.0 / math.sqrt(2), rel=1e-3)
    assert f["crest"] == pytest.approx(math.sqrt(2), rel=1e-3)
    assert f["kurtosis"] == pytest.approx(1.5, rel=1e-2)  # a sine's Pearson kurtosis
    assert f["hf_rms"] < 0.01  # nothing in the high band
    assert f["env_bpfo"] == 1.0 and f["env_bpfi"] == 1.0  # no bearing given


def test_envelope_finds_the_outer_race_line_of_an_impact_train() -> None:
    rpm = 1800.0
    bpfo = defect_frequencies(BEARINGS["6203"], rpm).bpfo  # 91.6 Hz
    n = 4096
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, n)
    ring = np.exp(-2 * np.pi * 0.05 * 3000 * np.arange(64) / FS) * np.sin(
        2 * np.pi * 3000 * np.arange(64) / FS
    )
    for k in range(int(n / FS * bpfo) + 1):
        i = round(k / bpfo * FS)
        seg = x[i : i + 64]
        seg += 3.0 * ring[: seg.size]
    f = burst_features(x, FS, rpm, bearing="6203", band=(2000.0, 4000.0))
    # a strictly periodic train has lines at every BPFO harmonic; some fall near BPFI harmonics too
    assert f["env_bpfo"] > 3.0 and f["env_bpfo"] > 1.5 * f["env_bpfi"]
    assert f["kurtosis"] > 3.5


def rows(n: int, rng: np.random.Generator, drift: float = 0.0) -> list[dict[str, float]]:
    out = []
    for i in range(n):
        grow = math.exp(drift * i) - 1.0 if drift else 0.0
        out.append(
            {
                "a": 1.0 + 0.05 * rng.normal() + grow,
                "b": 2.0 + 0.1 * rng.normal(),
                "c": 5.0 + 0.2 * rng.normal() + 0.5 * grow,
            }
        )
    return out


def test_the_monitor_stays_quiet_on_healthy_data_and_flags_degradation() -> None:
    rng = np.random.default_rng(1)
    settings = MonitorSettings(features=("a", "b", "c"), groups={"g": (("a", "c"), 10.0)})
    m = ConditionMonitor(settings).fit(rows(400, rng))
    healthy = [m.update(i * 600_000, r) for i, r in enumerate(rows(1000, rng))]
    share = sum(o["anomaly_score"] > 1 for o in healthy) / len(healthy)
    assert share < 0.03  # 1 % budget, held-out calibration
    assert min(o["health_index"] for o in healthy) > 0.5
    assert all("rul_h" not in o for o in healthy[:100])


def test_health_index_is_monotonic_and_rul_closes_in_on_the_true_failure_time() -> None:
    rng = np.random.default_rng(2)
    settings = MonitorSettings(
        features=("a", "b", "c"), groups={"g": (("a",), 40.0)}, rel_floor=0.05, prior_life_h=100.0
    )
    m = ConditionMonitor(settings).fit(rows(300, rng))
    # a grows as exp(0.01·i) - 1 per 10-minute step: z = grow / 0.05 reaches 40 when grow = 2
    true_fail_i = math.log(3.0) / 0.01
    degr = rows(int(true_fail_i) + 1, rng, drift=0.01)
    outs = [m.update(int(i * 600_000), r) for i, r in enumerate(degr)]
    hi = [o["health_index"] for o in outs]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(hi))
    assert hi[-1] < 0.1
    errors = []
    for frac in (0.5, 0.25):
        i = int(true_fail_i * (1 - frac))
        assert "rul_h" in outs[i]
        true_h = (true_fail_i - i) / 6
        errors.append(abs(outs[i]["rul_h"] - true_h) / true_h)
        assert outs[i]["rul_low_h"] <= outs[i]["rul_h"] <= outs[i]["rul_high_h"]
    assert max(errors) < 0.5


def test_failure_level_spread_widens_the_rul_band_around_the_same_median() -> None:
    true_fail_i = math.log(3.0) / 0.01  # as in the test above: the indicator reaches 40 here
    last_i = int(true_fail_i * 0.9) - 1
    true_h = (true_fail_i - last_i) / 6

    def late_estimate(spread: dict[str, float]) -> dict[str, float]:
        rng = np.random.default_rng(2)
        settings = MonitorSettings(
            features=("a", "b", "c"),
            groups={"g": (("a",), 40.0)},
            prior_life_h=100.0,
            failure_spread_log=spread,
        )
        m = ConditionMonitor(settings).fit(rows(300, rng))
        degr = rows(last_i + 1, rng, drift=0.01)
        return [m.update(int(i * 600_000), r) for i, r in enumerate(degr)][-1]

    exact, spread = late_estimate({}), late_estimate({"g": 0.3})
    assert spread["rul_h"] == pytest.approx(exact["rul_h"], rel=0.25)
    assert spread["rul_high_h"] - spread["rul_low_h"] > 3 * (exact["rul_high_h"] - exact["rul_low_h"])
    # Late in life the exact-level band misses the true failure time; the band with the spread holds it.
    assert not exact["rul_low_h"] <= true_h <= exact["rul_high_h"]
    assert spread["rul_low_h"] <= true_h <= spread["rul_high_h"]
