"""ISO 10816-3:2009 / ISO 20816-3:2022 vibration severity zones (domain-methods C1).

Broadband RMS velocity in mm/s (10-1000 Hz; 2-1000 Hz below 600 r/min) on bearing housings of machines of
15 kW to 50 MW. Zone A: newly commissioned; B: unrestricted long-term operation; C: limited period only,
plan action; D: damage likely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MachineGroup(StrEnum):
    GROUP1 = "group1"  # 300 kW - 50 MW; motors with shaft height >= 315 mm
    GROUP2 = "group2"  # 15 kW - 300 kW; motors with 160 <= H < 315 mm


class Foundation(StrEnum):
    RIGID = "rigid"
    FLEXIBLE = "flexible"


class Zone(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


@dataclass(frozen=True)
class ZoneLimits:
    """Zone boundaries in mm/s RMS velocity."""

    ab: float
    bc: float
    cd: float


VELOCITY_LIMITS: dict[tuple[MachineGroup, Foundation], ZoneLimits] = {
    (MachineGroup.GROUP1, Foundation.RIGID): ZoneLimits(2.3, 4.5, 7.1),
    (MachineGroup.GROUP1, Foundation.FLEXIBLE): ZoneLimits(3.5, 7.1, 11.0),
    (MachineGroup.GROUP2, Foundation.RIGID): ZoneLimits(1.4, 2.8, 4.5),
    (MachineGroup.GROUP2, Foundation.FLEXIBLE): ZoneLimits(2.3, 4.5, 7.1),
}

# Displacement boundaries in micrometres (peak-to-peak in ISO 20816-3 annex) for slow machines.
DISPLACEMENT_LIMITS_UM: dict[tuple[MachineGroup, Foundation], ZoneLimits] = {
    (MachineGroup.GROUP1, Foundation.RIGID): ZoneLimits(29, 57, 90),
    (MachineGroup.GROUP1, Foundation.FLEXIBLE): ZoneLimits(45, 90, 140),
    (MachineGroup.GROUP2, Foundation.RIGID): ZoneLimits(22, 45, 71),
    (MachineGroup.GROUP2, Foundation.FLEXIBLE): ZoneLimits(37, 71, 113),
}


def limits(group: MachineGroup | str, foundation: Foundation | str) -> ZoneLimits:
    return VELOCITY_LIMITS[(MachineGroup(group), Foundation(foundation))]


def zone(velocity_rms_mm_s: float, group: MachineGroup | str, foundation: Foundation | str) -> Zone:
    """Zone of a broadband RMS velocity; a value on a boundary belongs to the worse zone."""
    if velocity_rms_mm_s < 0:
        raise ValueError("RMS velocity cannot be negative")
    lim = limits(group, foundation)
    if velocity_rms_mm_s < lim.ab:
        return Zone.A
    if velocity_rms_mm_s < lim.bc:
        return Zone.B
    if velocity_rms_mm_s < lim.cd:
        return Zone.C
    return Zone.D


@dataclass(frozen=True)
class AlarmLevels:
    alarm: float
    trip: float


def alarm_levels(
    group: MachineGroup | str, foundation: Foundation | str, baseline_mm_s: float | None = None
) -> AlarmLevels:
    """ALARM = baseline + 25 % of the B/C boundary, capped at 1.25 x B/C; TRIP = 1.25 x C/D.

    Without a baseline the ALARM is the B/C boundary itself (the standard's default for a new machine).
    """
    lim = limits(group, foundation)
    if baseline_mm_s is None:
        alarm = lim.bc
    else:
        if baseline_mm_s < 0:
            raise ValueError("baseline cannot be negative")
        alarm = min(baseline_mm_s + 0.25 * lim.bc, 1.25 * lim.bc)
    return AlarmLevels(alarm=alarm, trip=1.25 * lim.cd)
