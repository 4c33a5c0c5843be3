"""Robot joints with a precision reducer (harmonic drive or RV) and faults that grow to failure.

A `ReducerJoint` is a `RobotJoint` (motion, torque, current, temperature) whose reducer can carry faults:

- outer-race or inner-race defect of the reducer's input bearing: impacts at BPFO or BPFI (computed from the
  bearing geometry and the motor speed with `analytics.condition.bearing`) ring the housing resonance; late
  in life the damage spreads and broadband vibration rises;
- wear: friction rises (up to x3 at failure), so do current, heat and gear-mesh vibration, and backlash;
- lubrication loss: friction rises a little, heat generation a lot (temperature rise about x3 at failure).

Each fault has an exact onset and failure time; its severity grows from 0 at onset to 1 at failure as
(exp(g·u) - 1)/(exp(g) - 1), u the elapsed fraction, and stays 1 afterwards (the machine has failed).

Two ways to move time: `advance` integrates the motion (50 ms sub-steps) for live MQTT simulation;
`fast_forward` jumps minutes or hours (temperature relaxes to the cycle-mean heating, cycles are counted),
for fleet evaluation over months. Both give the same fault severities, summary values and waveform bursts
for the same time, because bursts and per-cycle figures do not depend on the fine motion state.

Waveform bursts: `WAVE_SAMPLES` samples of housing acceleration (m/s²) at `WAVE_FS_HZ`, captured at mid-stroke
of the program's fastest move, where the motor speed is near its peak; the simulator holds that speed
constant over the 0.25 s burst (a simplification: real capture windows see ±10 % speed change) and reports it
as `wave_rpm` with the burst, so defect frequencies can be computed from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from openiiot.analytics.condition.bearing import BEARINGS, defect_frequencies
from openiiot.analytics.condition.features import time_features, velocity_rms
from openiiot.analytics.condition.waveform import encode_waveform
from openiiot.domain.errors import ValidationFailed
from openiiot.sim.robot import JointSpec, MotionSegment, RobotJoint

WAVE_FS_HZ = 8192.0
WAVE_SAMPLES = 2048
WAVE_KEY = "vib_wave"
WAVE_RPM_KEY = "wave_rpm"
_DAY_S = 86400.0


class ReducerKind(StrEnum):
    HARMONIC = "harmonic"
    RV = "rv"


class FaultKind(StrEnum):
    OUTER_RACE = "outer_race"
    INNER_RACE = "inner_race"
    WEAR = "wear"
    LUBRICATION = "lubrication"


@dataclass(frozen=True, slots=True)
class ReducerSpec:
    """The reducer: its input bearing (a key of `BEARINGS`), mesh order, housing resonance, new backlash."""

    kind: ReducerKind
    bearing: str
    mesh_order: float  # mesh frequency / input shaft frequency
    resonance_hz: float
    backlash_arcmin: float


REDUCERS: dict[ReducerKind, ReducerSpec] = {
    ReducerKind.RV: ReducerSpec(ReducerKind.RV, "6205", 12.0, 2600.0, 1.0),
    ReducerKind.HARMONIC: ReducerSpec(ReducerKind.HARMONIC, "6203", 2.0, 3300.0, 0.5),
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault that starts at `onset_s` and fails the reducer at `failure_s` (seconds of simulated time)."""

    kind: FaultKind
    onset_s: float
    failure_s: float
    growth: float = 4.0  # shape of the exponential growth of severity

    def __post_init__(self) -> None:
        if not 0 <= self.onset_s < self.failure_s:
            raise ValidationFailed("a fault needs 0 <= onset < failure", field="faults")
        if self.growth <= 0:
            raise ValidationFailed("fault growth must be positive", field="faults")

    def severity(self, t_s: float) -> float:
        """0 before onset, growing exponentially to 1 at failure, 1 afterwards."""
        if t_s <= self.onset_s:
            return 0.0
        u = min(1.0, (t_s - self.onset_s) / (self.failure_s - self.onset_s))
        return math.expm1(self.growth * u) / math.expm1(self.growth)


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """A customer site: its climate and shift pattern (local time = UTC + utc_offset_h)."""

    name: str = "site"
    ambient_mean_c: float = 24.0
    ambient_swing_c: float = 4.0  # half the day-night difference, warmest at 15:00
    shifts: int = 2  # 8-hour shifts from 06:00; 3 = around the clock
    utc_offset_h: float = 8.0

    def local_hour(self, ts_ms: float) -> float:
        return ((ts_ms / 3_600_000.0) + self.utc_offset_h) % 24.0

    def ambient_c(self, ts_ms: float) -> float:
        return self.ambient_mean_c + self.ambient_swing_c * math.sin(
            2 * math.pi * (self.local_hour(ts_ms) - 9.0) / 24.0
        )

    def working(self, ts_ms: float) -> bool:
        if self.shifts >= 3:
            return True
        return (self.local_hour(ts_ms) - 6.0) % 24.0 < 8.0 * self.shifts


@dataclass(frozen=True, slots=True)
class CycleStats:
    """Figures of one program cycle at a given friction level."""

    duration_s: float
    mean_power_w: float
    rms_current_a: float
    rms_torque_nm: float
    peak_torque_nm: float


class _FixedJoint(RobotJoint):
    def __init__(
        self, spec: JointSpec, program: tuple[MotionSegment, ...], friction: float, heat: float = 1.0
    ) -> None:
        self._fixed = (friction, heat)
        super().__init__(spec, 0, program)

    def _friction_factor(self) -> float:
        return self._fixed[0]

    def _heat_factor(self) -> float:
        return self._fixed[1]


@lru_cache(maxsize=4096)
def cycle_stats(
    spec: JointSpec, program: tuple[MotionSegment, ...], friction: float, cycles: int = 1
) -> CycleStats:
    """Integrate `cycles` repetitions of the program (no dwell jitter) at a friction multiplier."""
    joint = _FixedJoint(JointSpec(**{**_asdict(spec), "dwell_jitter": 0.0}), program, friction)
    dt = 0.01
    duration = cycles * sum(s.duration_s + s.dwell_s for s in program)
    n = round(duration / dt)
    power = cur2 = tq2 = peak = 0.0
    for _ in range(n):
        joint.advance(dt)
        t = joint.torque_nm
        power += abs(t * joint._kin.speed_rad_s)
        cur2 += joint.current_a**2
        tq2 += t * t
        peak = max(peak, abs(t))
    return CycleStats(duration / cycles, power / n, math.sqrt(cur2 / n), math.sqrt(tq2 / n), peak)


def _asdict(spec: JointSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in JointSpec.__dataclass_fields__}


def capture_rpm(spec: JointSpec, program: tuple[MotionSegment, ...]) -> float:
    """Motor speed at mid-stroke of the fastest move (cycloidal peak speed = 2·delta/duration)."""
    peak_rad_s = max(2 * math.radians(abs(s.delta_deg)) / s.duration_s for s in program)
    return peak_rad_s * spec.gear_ratio * 60.0 / (2 * math.pi)


@dataclass(frozen=True, slots=True)
class Severities:
    outer_race: float = 0.0
    inner_race: float = 0.0
    wear: float = 0.0
    lubrication: float = 0.0

    @property
    def friction(self) -> float:
        """Friction multiplier: x3 at wear failure, +60 % at lubrication failure."""
        return (1.0 + 2.0 * self.wear) * (1.0 + 0.6 * self.lubrication)

    @property
    def heat(self) -> float:
        """Extra heat generation per watt (churning, boundary lubrication)."""
        return 1.0 + 2.5 * self.lubrication


def synth_waveform(
    reducer: ReducerSpec,
    rpm: float,
    sev: Severities,
    rng: np.random.Generator,
    *,
    fs: float = WAVE_FS_HZ,
    n: int = WAVE_SAMPLES,
) -> NDArray[np.float64]:
    """Housing acceleration (m/s²) at constant motor speed `rpm` for the given fault severities."""
    t = np.arange(n) / fs
    fr = rpm / 60.0
    load = fr / 40.0
    phase = rng.uniform(0, 2 * np.pi, 2)
    x = 0.25 * load * (1 + 3.0 * sev.wear) * np.sin(2 * np.pi * reducer.mesh_order * fr * t + phase[0])
    x += 0.08 * load * (1 + 2.0 * sev.wear) * np.sin(2 * np.pi * fr * t + phase[1])
    bearing = max(sev.outer_race, sev.inner_race)
    sigma = 0.35 * (1 + 1.0 * sev.wear + 0.6 * sev.lubrication + 3.0 * bearing**2)
    x += rng.normal(0.0, sigma, n)
    for kind, s in (("BPFO", sev.outer_race), ("BPFI", sev.inner_race)):
        if s <= 0:
            continue
        f_d = defect_frequencies(BEARINGS[reducer.bearing], rpm).as_dict()[kind]
        k = np.arange(int(n / fs * f_d) + 2)
        times = (k + rng.uniform(0, 1)) / f_d + rng.normal(0.0, 0.01 / f_d, k.size)  # 1 % slip jitter
        amp = 40.0 * s * rng.uniform(0.8, 1.2, k.size)
        if kind == "BPFI":  # the defect passes through the load zone once per shaft turn
            amp *= 0.6 + 0.4 * np.cos(2 * np.pi * fr * times)
        idx = np.round(times * fs).astype(int)
        keep = (idx >= 0) & (idx < n)
        train = np.zeros(n)
        np.add.at(train, idx[keep], amp[keep])
        tau = np.arange(int(0.008 * fs)) / fs
        ring = np.exp(-0.05 * 2 * np.pi * reducer.resonance_hz * tau) * np.sin(
            2 * np.pi * reducer.resonance_hz * tau
        )
        x += np.convolve(train, ring)[:n]
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class JointPlan:
    """One reducer of the fleet: where it is, what it is, which faults it will have (ground truth)."""

    device_id: str
    site: SiteSpec
    robot: str
    axis: int
    reducer: ReducerKind
    spec: JointSpec
    faults: tuple[Fault, ...] = ()
    seed: int = 0

    @property
    def failure_s(self) -> float | None:
        """First failure time (seconds of simulated time), or None for a healthy reducer."""
        return min((f.failure_s for f in self.faults), default=None)


class ReducerJoint(RobotJoint):
    """A joint with a reducer, on a site's clock; `start_ts_ms` is the UTC time of elapsed 0."""

    def __init__(
        self,
        spec: JointSpec,
        reducer: ReducerSpec,
        seed: int,
        *,
        faults: tuple[Fault, ...] = (),
        site: SiteSpec | None = None,
        start_ts_ms: int = 0,
        program: tuple[MotionSegment, ...] | None = None,
    ) -> None:
        self.elapsed_s = 0.0
        self.reducer = reducer
        self.faults = list(faults)
        self.site = site or SiteSpec()
        self.start_ts_ms = start_ts_ms
        self._seed = seed
        super().__init__(spec, seed, program)
        self.temp_c = self._ambient_c()
        self._cycle_frac = 0.0
        self._noise = np.random.default_rng([seed, 7])

    @property
    def ts_ms(self) -> int:
        return self.start_ts_ms + round(self.elapsed_s * 1000.0)

    def severities(self, t_s: float | None = None) -> Severities:
        t = self.elapsed_s if t_s is None else t_s
        values: dict[str, float] = {}
        for f in self.faults:
            values[f.kind.value] = max(values.get(f.kind.value, 0.0), f.severity(t))
        return Severities(**values)

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _friction_factor(self) -> float:
        return self.severities().friction

    def _heat_factor(self) -> float:
        return self.severities().heat

    def _ambient_c(self) -> float:
        return self.site.ambient_c(self.start_ts_ms + self.elapsed_s * 1000.0)

    def working(self) -> bool:
        return self.site.working(self.start_ts_ms + self.elapsed_s * 1000.0)

    def advance(self, dt_s: float, running: bool = True) -> None:
        """Integrate the motion for `dt_s` (a stopped joint stands still and cools to ambient)."""
        if running:
            super().advance(dt_s)
        else:
            self._kin.speed_rad_s = self._kin.accel_rad_s2 = 0.0
            self.temp_c += (self._ambient_c() - self.temp_c) * -math.expm1(-dt_s / self.spec.thermal_tau_s)
        self.elapsed_s += dt_s

    def fast_forward(self, dt_s: float, running: bool = True) -> None:
        """Jump `dt_s` ahead: temperature relaxes towards the cycle-mean heating, cycles are counted."""
        self.elapsed_s += dt_s
        stats = self.cycle()
        target = self._ambient_c()
        if running:
            target += (
                self.spec.holding_rise_k + self.spec.heat_k_per_w * self._heat_factor() * stats.mean_power_w
            )
            self._cycle_frac += dt_s / stats.duration_s
            whole = int(self._cycle_frac)
            self.cycles += whole
            self._cycle_frac -= whole
        self.temp_c += (target - self.temp_c) * -math.expm1(-dt_s / self.spec.thermal_tau_s)
        self._kin.speed_rad_s = 0.0

    def cycle(self) -> CycleStats:
        """Figures of one program cycle at the present friction (friction rounded to 1 %)."""
        return cycle_stats(self.spec, self.program, round(self._friction_factor(), 2))

    def backlash_arcmin(self) -> float:
        return self.reducer.backlash_arcmin + 5.0 * self.severities().wear

    def vibration_mm_s(self) -> float:
        """Housing velocity RMS now: speed-dependent, raised by wear, lubrication loss, bearing damage."""
        sev = self.severities()
        bearing = max(sev.outer_race, sev.inner_race)
        moving = abs(self._kin.speed_rad_s) > 0
        base = super().vibration_mm_s() * (1.0 + 1.5 * sev.wear + 0.5 * sev.lubrication)
        return base + (3.0 * bearing**2 if moving else 0.0)

    def telemetry(self) -> dict[str, float]:
        """Controller readings: the joint's, plus ambient, temperature rise and per-cycle RMS current."""
        out = super().telemetry()
        ambient = self._ambient_c()
        noise = self._noise.normal(0.0, 1.0, 2).tolist()
        out["ambient_c"] = round(ambient + 0.1 * noise[0], 2)
        out["temp_rise_c"] = round(out["temp_c"] - ambient, 2)
        out["current_rms_a"] = round(self.cycle().rms_current_a * (1.0 + 0.005 * noise[1]), 3)
        return out

    def burst(self, t_s: float | None = None) -> tuple[NDArray[np.float64], float]:
        """The waveform burst at time `t_s` (default now) and the motor rpm it was captured at."""
        t = self.elapsed_s if t_s is None else t_s
        rpm = capture_rpm(self.spec, self.program)
        rng = np.random.default_rng([self._seed, 11, round(t * 1000)])
        return synth_waveform(self.reducer, rpm, self.severities(t), rng), rpm

    def burst_values(self) -> dict[str, Any]:
        wave, rpm = self.burst()
        return {WAVE_KEY: encode_waveform(wave, WAVE_FS_HZ), WAVE_RPM_KEY: round(rpm, 2)}

    def health_check(self) -> dict[str, Any]:
        """Fixed ±90° trajectory at the present condition, and a burst at a fixed 1,500 rpm: comparable."""
        stats = cycle_stats(self.spec, HEALTH_CHECK_PROGRAM, round(self._friction_factor(), 3), cycles=3)
        rng = np.random.default_rng([self._seed, 13])
        wave = synth_waveform(self.reducer, 1500.0, self.severities(), rng)
        tf = time_features(wave)
        return {
            "trajectory": "±90° cycloidal, 1.5 s per stroke, 3 cycles; burst at 1500 rpm",
            "peak_torque_nm": round(stats.peak_torque_nm, 1),
            "rms_torque_nm": round(stats.rms_torque_nm, 1),
            "rms_current_a": round(stats.rms_current_a, 3),
            "backlash_arcmin": round(self.backlash_arcmin(), 2),
            "velocity_rms_mm_s": round(velocity_rms(wave, WAVE_FS_HZ), 3),
            "kurtosis": round(tf.kurtosis, 2),
            "temp_rise_c": round(self.temp_c - self._ambient_c(), 2),
        }


HEALTH_CHECK_PROGRAM = (MotionSegment(90.0, 1.5, 0.5), MotionSegment(-90.0, 1.5, 0.5))

# Axes of a 6-axis ~20 kg robot: big RV reducers on the main axes, harmonic drives on the wrist.
AXES: tuple[tuple[ReducerKind, JointSpec], ...] = (
    (ReducerKind.RV, JointSpec(inertia_kg_m2=12.0, gravity_nm=0.0, gear_ratio=147.0, start_deg=0.0)),
    (ReducerKind.RV, JointSpec()),
    (ReducerKind.RV, JointSpec(inertia_kg_m2=3.0, gravity_nm=120.0, gear_ratio=121.0, rated_torque_nm=300.0)),
    (
        ReducerKind.HARMONIC,
        JointSpec(
            inertia_kg_m2=0.3,
            gravity_nm=5.0,
            gear_ratio=100.0,
            rated_torque_nm=60.0,
            viscous_nm_s_rad=1.0,
            coulomb_nm=2.0,
            heat_k_per_w=0.2,
        ),
    ),
    (
        ReducerKind.HARMONIC,
        JointSpec(
            inertia_kg_m2=0.2,
            gravity_nm=4.0,
            gear_ratio=100.0,
            rated_torque_nm=50.0,
            viscous_nm_s_rad=0.8,
            coulomb_nm=1.5,
            heat_k_per_w=0.25,
        ),
    ),
    (
        ReducerKind.HARMONIC,
        JointSpec(
            inertia_kg_m2=0.05,
            gravity_nm=0.5,
            gear_ratio=80.0,
            rated_torque_nm=25.0,
            viscous_nm_s_rad=0.3,
            coulomb_nm=0.6,
            heat_k_per_w=0.5,
        ),
    ),
)


@dataclass(slots=True)
class FleetPlan:
    """Every reducer of a simulated fleet with its ground truth; `start_ts_ms` is elapsed 0."""

    start_ts_ms: int
    horizon_s: float
    joints: list[JointPlan] = field(default_factory=list)

    def truth(self) -> list[dict[str, Any]]:
        """Ground truth per reducer: faults with onset and failure in seconds and UTC milliseconds."""
        return [
            {
                "device_id": j.device_id,
                "site": j.site.name,
                "robot": j.robot,
                "axis": j.axis,
                "reducer": j.reducer.value,
                "faults": [
                    {
                        "kind": f.kind.value,
                        "onset_s": f.onset_s,
                        "failure_s": f.failure_s,
                        "onset_ts_ms": self.start_ts_ms + round(f.onset_s * 1000),
                        "failure_ts_ms": self.start_ts_ms + round(f.failure_s * 1000),
                    }
                    for f in j.faults
                ],
            }
            for j in self.joints
        ]

    def build(self, plan: JointPlan) -> ReducerJoint:
        return ReducerJoint(
            plan.spec,
            REDUCERS[plan.reducer],
            plan.seed,
            faults=plan.faults,
            site=plan.site,
            start_ts_ms=self.start_ts_ms,
        )


def plan_fleet(
    n_sites: int,
    robots_per_site: int,
    seed: int,
    *,
    start_ts_ms: int,
    horizon_s: float = 60 * _DAY_S,
    axes: int = 6,
    faulty_share: float = 0.3,
    kinds: tuple[FaultKind, ...] = tuple(FaultKind),
) -> FleetPlan:
    """A seeded fleet: sites with their climate and shifts, robots of `axes` joints, some with one fault.

    A faulty reducer's fault starts between 15 % and 50 % of the horizon and fails 20 % to 45 % of the horizon
    later (always before the horizon ends).
    """
    if n_sites < 1 or robots_per_site < 1 or not 1 <= axes <= len(AXES) or not 0 <= faulty_share <= 1:
        raise ValidationFailed("need sites >= 1, robots >= 1, 1 <= axes <= 6, 0 <= share <= 1", field="fleet")
    rng = np.random.default_rng(seed)
    fleet = FleetPlan(start_ts_ms, horizon_s)
    for s in range(n_sites):
        site = SiteSpec(
            name=f"site-{s + 1:03d}",
            ambient_mean_c=float(rng.uniform(12.0, 32.0)),
            ambient_swing_c=float(rng.uniform(2.0, 6.0)),
            shifts=int(rng.integers(1, 4)),
        )
        for r in range(robots_per_site):
            robot = f"{site.name}-r{r + 1:02d}"
            for a in range(axes):
                kind, spec = AXES[a]
                faults: tuple[Fault, ...] = ()
                if rng.uniform() < faulty_share:
                    onset = float(rng.uniform(0.15, 0.5)) * horizon_s
                    life = float(rng.uniform(0.2, 0.45)) * horizon_s
                    fk = kinds[int(rng.integers(len(kinds)))]
                    faults = (Fault(fk, onset, onset + life, growth=float(rng.uniform(3.0, 5.0))),)
                fleet.joints.append(
                    JointPlan(
                        device_id=f"{robot}-j{a + 1}",
                        site=site,
                        robot=robot,
                        axis=a + 1,
                        reducer=kind,
                        spec=spec,
                        faults=faults,
                        seed=int(rng.integers(2**31)),
                    )
                )
    return fleet
