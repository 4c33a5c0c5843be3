"""Simulated devices and the models that feed them: a station feeds several devices, a joint one."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.sim.reducer import AXES, REDUCERS, Fault, FaultKind, ReducerJoint, SiteSpec
from openiiot.sim.robot import JointSpec, MotionSegment, RobotJoint
from openiiot.sim.station import CompressorStation, StationSpec

COMPRESSOR = "compressor"
FLOW_METER = "flow_meter"
PRESSURE_SENSOR = "pressure_sensor"
ROBOT_JOINT = "robot_joint"
STATION_HEADER = "station_header"  # header meter and controller of an energy station (station_devices.py)
ROBOT_REDUCER = "robot_reducer"  # one joint (and its reducer) of a multi-axis robot; `group` = the robot
DEVICE_MODELS = (COMPRESSOR, FLOW_METER, PRESSURE_SENSOR, ROBOT_JOINT, STATION_HEADER, ROBOT_REDUCER)
_STATION_MODELS = (COMPRESSOR, FLOW_METER, PRESSURE_SENSOR)
MAX_COMPRESSORS_PER_STATION = 4
_DEFAULT_COMPRESSORS = 3  # a station listed only by its meters still needs air to measure


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    """A device the simulator publishes for, with its MQTT credentials and model kind."""

    device_id: str
    token: str
    model: str
    group: str | None = None  # devices with the same group share one station model

    def __post_init__(self) -> None:
        if self.model not in DEVICE_MODELS:
            raise ValidationFailed(
                f"model {self.model!r} must be one of {', '.join(DEVICE_MODELS)}", field="model"
            )
        if not self.device_id:
            raise ValidationFailed("device_id must not be empty", field="device_id")


Reading = tuple[SimulatedDevice, dict[str, Any]]  # numbers, and text for waveform bursts


class ModelGroup(Protocol):
    """One simulated physical system and the devices that report it."""

    devices: list[SimulatedDevice]

    def advance(self, dt_s: float) -> None:
        """Move the physics forward."""

    def readings(self) -> list[Reading]:
        """What each device reports now."""


class StationGroup:
    """A compressor station reported by its compressors, a header flow meter and a pressure sensor."""

    def __init__(
        self, devices: list[SimulatedDevice], seed: int, start_ts_ms: int, spec: StationSpec | None = None
    ) -> None:
        self.devices = devices
        n_listed = sum(1 for d in devices if d.model == COMPRESSOR)
        base = spec or StationSpec()
        self.station = CompressorStation(
            replace(base, n_compressors=n_listed or _DEFAULT_COMPRESSORS), seed, start_ts_ms
        )

    def advance(self, dt_s: float) -> None:
        """Move the station forward."""
        self.station.advance(dt_s)

    def readings(self) -> list[Reading]:
        """Compressors in listed order, then the meters."""
        out: list[Reading] = []
        compressors = iter(self.station.compressors)
        for device in self.devices:
            if device.model == COMPRESSOR:
                out.append((device, next(compressors).telemetry()))
            elif device.model == FLOW_METER:
                out.append((device, self.station.flow_meter_telemetry()))
            else:
                out.append((device, self.station.pressure_sensor_telemetry()))
        return out

    def command(self, device_id: str, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Route an RPC-style command to the compressor reported by `device_id`."""
        compressors = iter(self.station.compressors)
        for device in self.devices:
            if device.model == COMPRESSOR:
                compressor = next(compressors)
                if device.device_id == device_id:
                    return compressor.command(name, params)
        raise NotFound("compressor", device_id)


class RobotGroup:
    """One robot joint reported by one device."""

    def __init__(self, device: SimulatedDevice, seed: int, spec: JointSpec | None = None) -> None:
        self.devices = [device]
        self.seed = seed
        self.joint = RobotJoint(spec or JointSpec(), seed)
        self.running = True

    def advance(self, dt_s: float) -> None:
        """Move the joint forward (a stopped robot stands still and cools down)."""
        if self.running:
            self.joint.advance(dt_s)

    def command(self, device_id: str, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """start, stop, or run_health_check: a fixed trajectory, as robot makers run it, with its figures."""
        if name == "stop":
            self.running = False
            return {"running": False}
        if name == "start":
            self.running = True
            return {"running": True}
        if name == "run_health_check":
            return health_check(self.joint.spec, self.seed)
        raise ValidationFailed(f"unknown command {name!r}", field="method")

    def readings(self) -> list[Reading]:
        """The joint's readings."""
        return [(self.devices[0], self.joint.telemetry())]


class ReducerRobotGroup:
    """A multi-axis robot: its devices are its joints in axis order (axis n uses the n-th of `AXES`).

    Every `wave_every_s` of simulated time each joint adds a waveform burst (`vib_wave`, `wave_rpm`) to its
    readings. `faults` maps device ids to faults (times in seconds after the simulation start);
    the `inject_fault` command adds one while running. The robot follows its site's shift pattern when
    `follow_shifts` is set, else it runs until stopped.
    """

    def __init__(
        self,
        devices: list[SimulatedDevice],
        seed: int,
        start_ts_ms: int,
        *,
        faults: Mapping[str, Sequence[Fault]] | None = None,
        site: SiteSpec | None = None,
        wave_every_s: float = 600.0,
        follow_shifts: bool = False,
    ) -> None:
        if len(devices) > len(AXES):
            raise ValidationFailed(f"a robot has at most {len(AXES)} joints", field="group")
        if wave_every_s <= 0:
            raise ValidationFailed("wave_every_s must be positive", field="wave_every_s")
        self.devices = devices
        faults = faults or {}
        self.joints = [
            ReducerJoint(
                AXES[i][1],
                REDUCERS[AXES[i][0]],
                _group_seed(seed, i),
                faults=tuple(faults.get(d.device_id, ())),
                site=site,
                start_ts_ms=start_ts_ms,
            )
            for i, d in enumerate(devices)
        ]
        self.wave_every_s = wave_every_s
        self.follow_shifts = follow_shifts
        self.running = True
        self._next_wave_s = 0.0

    def _joint(self, device_id: str) -> ReducerJoint:
        for device, joint in zip(self.devices, self.joints, strict=True):
            if device.device_id == device_id:
                return joint
        raise NotFound("joint", device_id)

    def advance(self, dt_s: float) -> None:
        """Move every joint forward (all stand still when the robot is stopped or off shift)."""
        running = self.running and (not self.follow_shifts or self.joints[0].working())
        for joint in self.joints:
            joint.advance(dt_s, running)

    def readings(self) -> list[Reading]:
        """Each joint's readings, with a waveform burst when one is due."""
        burst = self.joints[0].elapsed_s + 1e-9 >= self._next_wave_s
        if burst:
            self._next_wave_s += self.wave_every_s * max(
                1, math.floor((self.joints[0].elapsed_s - self._next_wave_s) / self.wave_every_s) + 1
            )
        out: list[Reading] = []
        for device, joint in zip(self.devices, self.joints, strict=True):
            values: dict[str, Any] = dict(joint.telemetry())
            if burst:
                values.update(joint.burst_values())
            out.append((device, values))
        return out

    def command(self, device_id: str, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """start, stop, run_health_check, or inject_fault {kind, onset_in_s, failure_in_s}."""
        joint = self._joint(device_id)
        if name == "stop":
            self.running = False
            return {"running": False}
        if name == "start":
            self.running = True
            return {"running": True}
        if name == "run_health_check":
            return joint.health_check()
        if name == "inject_fault":
            p = params or {}
            try:
                kind = FaultKind(str(p.get("kind")))
                onset = joint.elapsed_s + float(p.get("onset_in_s", 0.0))
                failure = joint.elapsed_s + float(p["failure_in_s"])
            except (KeyError, ValueError, TypeError) as exc:
                raise ValidationFailed(
                    "inject_fault needs kind (outer_race, inner_race, wear, lubrication) and failure_in_s",
                    field="params",
                ) from exc
            fault = Fault(kind, onset, failure)
            joint.inject(fault)
            return {"kind": kind.value, "onset_s": onset, "failure_s": failure}
        raise ValidationFailed(f"unknown command {name!r}", field="method")


HEALTH_CHECK_PROGRAM = (MotionSegment(90.0, 1.5, 0.5), MotionSegment(-90.0, 1.5, 0.5))
HEALTH_CHECK_CYCLES = 3


def health_check(spec: JointSpec, seed: int, dt_s: float = 0.01) -> dict[str, Any]:
    """Run the joint's present condition (spec: wear, friction) through a fixed trajectory; peak and RMS
    torque, RMS current and peak vibration are comparable between checks because the motion is the same."""
    joint = RobotJoint(spec, seed, program=HEALTH_CHECK_PROGRAM)
    torques, currents, vibration = [], [], 0.0
    duration_s = HEALTH_CHECK_CYCLES * sum(s.duration_s + s.dwell_s for s in HEALTH_CHECK_PROGRAM)
    for _ in range(round(duration_s / dt_s)):
        joint.advance(dt_s)
        torques.append(joint.torque_nm)
        currents.append(joint.current_a)
        vibration = max(vibration, joint.vibration_mm_s())
    return {
        "trajectory": "±90° cycloidal, 1.5 s per stroke, 3 cycles",
        "peak_torque_nm": round(max(abs(t) for t in torques), 1),
        "rms_torque_nm": round(math.sqrt(sum(t * t for t in torques) / len(torques)), 1),
        "rms_current_a": round(math.sqrt(sum(c * c for c in currents) / len(currents)), 3),
        "peak_vibration_mm_s": round(vibration, 3),
    }


def read_devices_csv(path: Path) -> list[SimulatedDevice]:
    """Read `device_id,access_token,model[,group]` rows (a header row is required)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"device_id", "access_token", "model"} - set(reader.fieldnames or [])
        if missing:
            raise ValidationFailed(f"CSV {path} lacks columns {sorted(missing)}", field="devices")
        devices = []
        for row in reader:
            devices.append(
                SimulatedDevice(
                    row["device_id"].strip(),
                    row["access_token"].strip(),
                    row["model"].strip(),
                    (row.get("group") or "").strip() or None,
                )
            )
    if not devices:
        raise ValidationFailed(f"CSV {path} lists no devices", field="devices")
    return devices


def _group_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def partition_stations(devices: Iterable[SimulatedDevice]) -> list[list[SimulatedDevice]]:
    """Station device lists: by `group` where given, else consecutive rows (compressors, then meters)."""
    named: dict[str, list[SimulatedDevice]] = {}
    stations: list[list[SimulatedDevice]] = []
    current: list[SimulatedDevice] = []
    for device in devices:
        if device.model not in _STATION_MODELS:
            continue
        if device.group is not None:
            if device.group not in named:
                named[device.group] = []
                stations.append(named[device.group])
            named[device.group].append(device)
            continue
        taken = sum(1 for d in current if d.model == device.model)
        limit = MAX_COMPRESSORS_PER_STATION if device.model == COMPRESSOR else 1
        has_meter = any(d.model != COMPRESSOR for d in current)
        # a station lists its compressors first, then its meters; a compressor after a meter starts anew
        if current and (taken >= limit or (device.model == COMPRESSOR and has_meter)):
            current = []
        if not current:
            stations.append(current)
        current.append(device)
    return stations


def build_groups(
    devices: list[SimulatedDevice],
    seed: int,
    start_ts_ms: int,
    station_spec: StationSpec | None = None,
    joint_spec: JointSpec | None = None,
    *,
    faults: Mapping[str, Sequence[Fault]] | None = None,
    wave_every_s: float = 600.0,
) -> list[ModelGroup]:
    """Models for a device list; the same list, seed and start time give identical series.

    `robot_reducer` devices form robots by `group` (in listed order: axis 1, 2, ...); ungrouped ones are
    single-joint robots. `faults` and `wave_every_s` apply to them (see `ReducerRobotGroup`).
    """
    ids = [d.device_id for d in devices]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("device ids must be unique", field="device_id")
    groups: list[ModelGroup] = [
        StationGroup(members, _group_seed(seed, i), start_ts_ms, station_spec)
        for i, members in enumerate(partition_stations(devices))
    ]
    offset = len(groups)
    robots = [d for d in devices if d.model == ROBOT_JOINT]
    groups.extend(RobotGroup(d, _group_seed(seed, offset + i), joint_spec) for i, d in enumerate(robots))
    offset = len(groups)
    robot_devices: dict[str, list[SimulatedDevice]] = {}
    for d in devices:
        if d.model == ROBOT_REDUCER:
            robot_devices.setdefault(d.group or d.device_id, []).append(d)
    groups.extend(
        ReducerRobotGroup(
            members,
            _group_seed(seed, offset + i),
            start_ts_ms,
            faults=faults,
            wave_every_s=wave_every_s,
        )
        for i, members in enumerate(robot_devices.values())
    )
    return groups
