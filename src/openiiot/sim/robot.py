"""One robot joint with its reducer, running a repeated cycle of motion segments."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openiiot.domain.errors import ValidationFailed

_G = 9.81
_MAX_SUBSTEP_S = 0.05  # motion segments last ~1 s; 50 ms resolves their torque profile
# Nabtesco RV life exponent: the load-weighted mean torque uses |T|^(10/3) (domain-methods E3)
_RV_EXPONENT = 10.0 / 3.0


@dataclass(frozen=True, slots=True)
class MotionSegment:
    """A cycloidal move of the joint by `delta_deg` in `duration_s`, then a pause of `dwell_s`."""

    delta_deg: float
    duration_s: float
    dwell_s: float
    payload_kg: float = 0.0


@dataclass(frozen=True, slots=True)
class JointSpec:
    """Mechanics, drive and sensors of the joint (defaults: axis 2 of a ~20 kg payload robot)."""

    inertia_kg_m2: float = 8.0  # arm inertia seen at the reducer output
    gravity_nm: float = 300.0  # m·g·l of the arm when horizontal
    payload_arm_m: float = 1.2
    viscous_nm_s_rad: float = 12.0
    coulomb_nm: float = 20.0
    gear_ratio: float = 121.0
    torque_constant_nm_a: float = 0.75  # motor side
    gear_efficiency: float = 0.8
    rated_torque_nm: float = 600.0
    heat_k_per_w: float = 0.04  # temperature rise per watt of mean |torque·speed|
    holding_rise_k: float = 4.0  # servo on and holding the arm
    thermal_tau_s: float = 1500.0
    vibration_base_mm_s: float = 0.3
    vibration_per_rad_s: float = 0.6
    wear: float = 0.0  # 0 new; raises friction and vibration (reducer degradation, later)
    ambient_c: float = 25.0
    start_deg: float = 20.0  # angle from horizontal at the start of the cycle
    dwell_jitter: float = 0.25  # relative variation of the last dwell (waiting for parts)


def default_program(rng: np.random.Generator) -> tuple[MotionSegment, ...]:
    """A pick-and-place cycle with randomised amplitudes; it returns to its start angle."""
    scale = float(rng.uniform(0.7, 1.3))
    pace = float(rng.uniform(0.85, 1.2))
    to_pick = 60.0 * scale
    to_place = -100.0 * scale
    return (
        MotionSegment(to_pick, 1.0 * pace, 0.6),
        MotionSegment(to_place, 1.4 * pace, 0.5, payload_kg=10.0),
        MotionSegment(-(to_pick + to_place), 0.9 * pace, 1.5),
    )


@dataclass(slots=True)
class _Kinematics:
    angle_rad: float = 0.0
    speed_rad_s: float = 0.0
    accel_rad_s2: float = 0.0
    payload_kg: float = 0.0


def cycloidal_motion(delta_rad: float, duration_s: float, t_s: float) -> tuple[float, float, float]:
    """Offset, speed and acceleration of a cycloidal move at time `t_s` (zero speed at both ends)."""
    u = min(max(t_s / duration_s, 0.0), 1.0)
    two_pi = 2.0 * math.pi
    offset = delta_rad * (u - math.sin(two_pi * u) / two_pi)
    speed = delta_rad / duration_s * (1.0 - math.cos(two_pi * u))
    accel = delta_rad / duration_s**2 * two_pi * math.sin(two_pi * u)
    return offset, speed, accel


class RobotJoint:
    """Deterministic (seeded) joint model: torque, motor current, temperature, vibration, cycles."""

    def __init__(
        self,
        spec: JointSpec,
        seed: int,
        program: tuple[MotionSegment, ...] | None = None,
    ) -> None:
        seeds = np.random.SeedSequence(seed).spawn(2)
        self._rng = np.random.default_rng(seeds[0])
        self._meter_rng = np.random.default_rng(seeds[1])
        self.spec = spec
        self.program = program or default_program(self._rng)
        if not self.program or any(s.duration_s <= 0 or s.dwell_s < 0 for s in self.program):
            raise ValidationFailed("a program needs segments with positive durations", field="program")
        self.cycles = 0
        self.temp_c = spec.ambient_c
        self._segment = 0
        self._t_in_segment_s = 0.0
        self._segment_start_rad = math.radians(spec.start_deg)
        self._last_dwell_s = self.program[-1].dwell_s
        self._kin = _Kinematics(angle_rad=self._segment_start_rad)
        self.torque_nm = self._torque(self._kin)
        self.cycle_load_torque_nm = 0.0  # RV-weighted mean torque of the last complete cycle
        self._cycle_sums = [0.0, 0.0]

    def _dwell_s(self, index: int) -> float:
        return self._last_dwell_s if index == len(self.program) - 1 else self.program[index].dwell_s

    def _kinematics(self) -> _Kinematics:
        seg = self.program[self._segment]
        offset, speed, accel = cycloidal_motion(
            math.radians(seg.delta_deg), seg.duration_s, self._t_in_segment_s
        )
        moving = self._t_in_segment_s < seg.duration_s
        # the gripper holds the part from the start of its move until the end of its dwell
        return _Kinematics(
            self._segment_start_rad + offset,
            speed if moving else 0.0,
            accel if moving else 0.0,
            seg.payload_kg,
        )

    def _torque(self, kin: _Kinematics) -> float:
        spec = self.spec
        inertia = spec.inertia_kg_m2 + kin.payload_kg * spec.payload_arm_m**2
        gravity = (spec.gravity_nm + kin.payload_kg * _G * spec.payload_arm_m) * math.cos(kin.angle_rad)
        friction = (
            (1.0 + 2.0 * spec.wear)
            * self._friction_factor()
            * (
                spec.viscous_nm_s_rad * kin.speed_rad_s
                + spec.coulomb_nm * math.copysign(1.0, kin.speed_rad_s)
            )
        )
        if kin.speed_rad_s == 0.0:
            friction = 0.0  # static friction is carried by the brake-free holding torque
        return inertia * kin.accel_rad_s2 + gravity + friction

    def advance(self, dt_s: float) -> None:
        """Move the joint `dt_s` seconds forward along its program."""
        n_sub = max(1, math.ceil(dt_s / _MAX_SUBSTEP_S))
        h = dt_s / n_sub
        for _ in range(n_sub):
            self._move(h)
            self._kin = self._kinematics()
            self.torque_nm = self._torque(self._kin)
            power_w = abs(self.torque_nm * self._kin.speed_rad_s)
            self._cycle_sums[0] += abs(self.torque_nm) ** _RV_EXPONENT * abs(self._kin.speed_rad_s) * h
            self._cycle_sums[1] += abs(self._kin.speed_rad_s) * h
            target = (
                self._ambient_c()
                + self.spec.holding_rise_k
                + self.spec.heat_k_per_w * self._heat_factor() * power_w
            )
            self.temp_c += (target - self.temp_c) * (1.0 - math.exp(-h / self.spec.thermal_tau_s))

    # Hooks for subclasses with faults (sim.reducer): friction and heat multipliers, ambient temperature.
    def _friction_factor(self) -> float:
        return 1.0

    def _heat_factor(self) -> float:
        return 1.0

    def _ambient_c(self) -> float:
        return self.spec.ambient_c

    def _move(self, h_s: float) -> None:
        self._t_in_segment_s += h_s
        while True:
            seg = self.program[self._segment]
            length = seg.duration_s + self._dwell_s(self._segment)
            if self._t_in_segment_s < length:
                return
            self._t_in_segment_s -= length
            self._segment_start_rad += math.radians(seg.delta_deg)
            self._segment += 1
            if self._segment == len(self.program):
                self._finish_cycle()

    def _finish_cycle(self) -> None:
        self._segment = 0
        self.cycles += 1
        self._segment_start_rad = math.radians(self.spec.start_deg)  # no drift from rounding
        weighted, travel = self._cycle_sums
        self.cycle_load_torque_nm = (weighted / travel) ** (1.0 / _RV_EXPONENT) if travel > 0 else 0.0
        self._cycle_sums = [0.0, 0.0]
        jitter = self.spec.dwell_jitter * float(self._rng.uniform(-1.0, 1.0))
        self._last_dwell_s = max(0.0, self.program[-1].dwell_s * (1.0 + jitter))

    @property
    def current_a(self) -> float:
        """Motor current from output torque through the gear and the torque constant."""
        spec = self.spec
        return self.torque_nm / (spec.gear_ratio * spec.torque_constant_nm_a * spec.gear_efficiency)

    def vibration_mm_s(self) -> float:
        """Noise-free housing vibration velocity RMS, rising with speed."""
        spec = self.spec
        return (1.0 + 2.0 * spec.wear) * (
            spec.vibration_base_mm_s + spec.vibration_per_rad_s * abs(self._kin.speed_rad_s)
        )

    def telemetry(self) -> dict[str, float]:
        """The controller's readings at this instant, with sensor noise."""
        noise = self._meter_rng.normal(0.0, 1.0, 3).tolist()
        torque_noise_nm = 0.01 * self.spec.rated_torque_nm * noise[0]
        gain = self.spec.gear_ratio * self.spec.torque_constant_nm_a * self.spec.gear_efficiency
        return {
            "angle_deg": round(math.degrees(self._kin.angle_rad), 2),
            "speed_deg_s": round(math.degrees(self._kin.speed_rad_s), 2),
            "torque_nm": round(self.torque_nm + torque_noise_nm, 1),
            "current_a": round(self.current_a + torque_noise_nm / gain, 3),
            "temp_c": round(self.temp_c + 0.1 * noise[1], 2),
            "vibration_mm_s": round(self.vibration_mm_s() * math.exp(0.05 * noise[2]), 3),
            "load_torque_nm": round(self.cycle_load_torque_nm, 1),
            "cycles": float(self.cycles),
        }
