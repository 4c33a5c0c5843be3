"""Screw compressor model: load/unload hysteresis, power, blow-down, counters, commands."""

from __future__ import annotations

import numpy as np
import pytest

from openiiot.domain.errors import ValidationFailed
from openiiot.sim.compressor import CompressorSpec, CompressorState, ScrewCompressor


def make(spec: CompressorSpec | None = None, seed: int = 1) -> ScrewCompressor:
    return ScrewCompressor(spec or CompressorSpec(), np.random.default_rng(seed))


def test_loads_at_lower_limit_and_unloads_at_upper_with_hysteresis_in_between() -> None:
    c = make(CompressorSpec(load_bar=6.5, unload_bar=7.5))
    falling = np.linspace(7.4, 6.4, 21)
    rising = np.linspace(6.4, 7.6, 25)
    states = []
    for p in [*falling, *rising]:
        c.step(1.0, float(p))
        states.append((float(p), c.state))
    for p, state in states[: len(falling)]:
        # falling through the band: nothing runs until the lower limit is reached
        assert (state is CompressorState.LOADED) == (p <= 6.5)
    for p, state in states[len(falling) :]:
        # rising through the band: stays loaded until the upper limit, not at the lower one
        assert (state is CompressorState.LOADED) == (p < 7.5)


def test_specific_power_when_loaded_at_7_bar_is_plausible() -> None:
    spec = CompressorSpec()
    c = make(spec)
    c.step(1.0, 6.0)  # below the band: loads
    c.step(1.0, 7.0 - spec.loaded_drop_bar)  # 7 bar at the compressor outlet
    assert c.state is CompressorState.LOADED
    assert c.discharge_pressure_bar == pytest.approx(7.0)
    specific_power = c.power_kw / c.flow_m3_min
    assert 5.0 <= specific_power <= 8.0


def test_loaded_power_rises_with_pressure() -> None:
    spec = CompressorSpec()
    assert spec.loaded_power_kw(8.0) > spec.loaded_power_kw(7.5) > spec.loaded_power_kw(6.0)
    assert spec.loaded_power_kw(spec.rated_pressure_bar) == pytest.approx(spec.rated_power_kw)


@pytest.mark.parametrize("fraction", [0.15, 0.25, 0.35])
def test_unloaded_power_after_blowdown_is_the_configured_share(fraction: float) -> None:
    spec = CompressorSpec(unloaded_power_fraction=fraction, blowdown_s=40.0)
    c = make(spec)
    c.step(1.0, 6.0)
    c.step(1.0, 7.6)
    assert c.state is CompressorState.UNLOADED
    just_after = c.power_kw
    for _ in range(45):
        c.step(1.0, 7.2)
    assert just_after > fraction * spec.rated_power_kw  # the sump is still blowing down
    assert c.power_kw / spec.rated_power_kw == pytest.approx(fraction)
    assert c.flow_m3_min == 0.0


def test_motor_stops_after_running_unloaded_too_long() -> None:
    c = make(CompressorSpec(idle_stop_s=120.0))
    c.step(1.0, 6.0)
    for _ in range(130):
        c.step(1.0, 7.6)
    assert c.state is CompressorState.OFF
    assert c.power_kw == 0.0
    c.step(1.0, 6.4)  # auto restart when air is needed
    assert c.state is CompressorState.LOADED


def test_counters_accumulate_energy_and_hours() -> None:
    c = make()
    c.step(1.0, 6.0)
    for _ in range(3599):
        c.step(1.0, 6.8)
    assert c.run_hours == pytest.approx(1.0)
    assert c.loaded_hours == pytest.approx(1.0)
    # an hour loaded near 7 bar uses about the loaded power in kWh
    assert c.energy_kwh == pytest.approx(c.spec.loaded_power_kw(6.95), rel=0.02)


def test_temperatures_follow_load_with_a_lag() -> None:
    c = ScrewCompressor(CompressorSpec(), np.random.default_rng(1), ambient_c=25.0)
    c.step(1.0, 6.0)
    early = c.discharge_temp_c
    for _ in range(1800):
        c.step(1.0, 6.5)
    assert early < 30.0
    assert 80.0 < c.discharge_temp_c < 95.0
    assert 60.0 < c.motor_temp_c < 25.0 + c.spec.motor_rise_k + 1.0


def test_stop_command_keeps_it_off_until_started() -> None:
    c = make()
    c.command("stop")
    c.step(1.0, 5.0)
    assert c.state is CompressorState.OFF
    c.command("start")
    c.step(1.0, 5.0)
    assert c.state is CompressorState.LOADED


def test_setpoint_command_moves_the_band() -> None:
    c = make()
    result = c.command("set_pressure_setpoint", {"load_bar": 5.5, "unload_bar": 6.5})
    assert result["unload_bar"] == 6.5
    c.step(1.0, 5.4)
    c.step(1.0, 6.6)
    assert c.state is CompressorState.UNLOADED


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("explode", {}),
        ("set_pressure_setpoint", {"load_bar": 7, "unload_bar": 6}),
        ("set_pressure_setpoint", {"load_bar": "x"}),
    ],
)
def test_bad_commands_are_rejected(name: str, params: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        make().command(name, params)


def test_telemetry_has_plausible_readings() -> None:
    c = make()
    c.step(1.0, 6.0)
    values = c.telemetry()
    assert values["state"] == 2.0
    assert 14.0 < values["flow_m3_min"] < 16.0
    assert 100.0 < values["current_a"] < 200.0  # 90 kW at 400 V
    assert all(isinstance(v, float) for v in values.values())
