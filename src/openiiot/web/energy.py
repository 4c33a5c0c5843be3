"""What the energy page shows: a compressed-air station's KPIs, cost and carbon from its stored telemetry.

A station is an asset with compressors on it: devices whose profile declares `power_kw`, `state` (0 off,
1 unloaded, 2 loaded) and `flow_m3_min`; a device on the same asset with `pressure_bar` and no `state` is
the header meter. The page reads 1-minute buckets of the chosen range (average power, flow and pressure,
the last state of the minute), so energy and air are exact and loaded/unloaded hours are counted to the
minute; the KPIs themselves are `analytics/energy/kpis.py` (docs/energy.md explains each one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openiiot.analytics.energy.carbon import CarbonResult, carbon
from openiiot.analytics.energy.kpis import CompressorSeries, StationReport, analyse_station
from openiiot.analytics.energy.tariffs import (
    CostBreakdown,
    Tariff,
    energy_cost,
    load_tariff,
    sample_tariff_path,
)
from openiiot.domain.model import Asset, Device, Principal
from openiiot.services.management import Services

COMPRESSOR_KEYS = frozenset({"power_kw", "state", "flow_m3_min"})
MINUTE_MS = 60_000
MAX_ASSETS = 1000
MAX_DEVICES = 200


@dataclass(frozen=True, slots=True)
class Station:
    """An asset with compressors and, if present, a header meter."""

    asset: Asset
    compressors: tuple[Device, ...]
    header: Device | None


@dataclass(frozen=True, slots=True)
class StationView:
    """The KPIs of one station over one range."""

    station: Station
    report: StationReport
    cost: CostBreakdown
    carbon: CarbonResult
    hours: float
    minutes_with_data: int


def stations(services: Services, principal: Principal) -> list[Station]:
    """Every asset of the caller's tenant(s) with compressors on it."""
    found = []
    roles: dict[str, str] = {}  # profile id -> "compressor", "header" or ""
    for asset in services.assets.list(principal, limit=MAX_ASSETS):
        devices = services.devices.search(principal, asset_id=asset.id, limit=MAX_DEVICES).items
        compressors, header = [], None
        for device in devices:
            if device.profile_id not in roles:
                keys = {k.key for k in services.profiles.get(principal, device.profile_id).keys}
                roles[device.profile_id] = (
                    "compressor"
                    if keys >= COMPRESSOR_KEYS
                    else "header"
                    if "pressure_bar" in keys and "state" not in keys
                    else ""
                )
            if roles[device.profile_id] == "compressor":
                compressors.append(device)
            elif roles[device.profile_id] == "header" and header is None:
                header = device
        if compressors:
            found.append(Station(asset, tuple(compressors), header))
    return found


def _series(
    services: Services,
    principal: Principal,
    device_id: str,
    wanted: dict[str, str],
    start_ms: int,
    end_ms: int,
) -> dict[str, dict[int, float]]:
    """{key: {minute start: value}} of the device's 1-minute aggregates (`wanted`: key -> aggregate)."""
    rows = services.telemetry.aggregate(
        principal,
        device_id,
        keys=list(wanted),
        interval="1m",
        aggregates=sorted(set(wanted.values())),
        start=str(start_ms),
        end=str(end_ms),
    )
    out: dict[str, dict[int, float]] = {}
    for key, aggregate in wanted.items():
        out[key] = {
            row.start_ms: float(v)
            for row in rows.get(key, [])
            if (v := row.values.get(aggregate)) is not None
        }
    return out


def _held(grid: np.ndarray, values: dict[int, float], before: float) -> np.ndarray:
    """The values on the minute grid, each held until the next one (`before` until the first)."""
    out = np.full(grid.shape, before, dtype=np.float64)
    current = before
    for i, minute in enumerate(grid):
        current = values.get(int(minute), current)
        out[i] = current
    return out


def station_view(
    services: Services,
    principal: Principal,
    station: Station,
    start_ms: int,
    end_ms: int,
    tariff: Tariff | None = None,
) -> StationView:
    """The station's KPIs, cost and carbon between `start_ms` and `end_ms`."""
    first = start_ms - start_ms % MINUTE_MS
    grid = np.arange(first, end_ms, MINUTE_MS, dtype=np.int64)
    ts_s = grid / 1000.0
    series: list[CompressorSeries] = []
    total_kw = np.zeros(grid.shape)
    seen: set[int] = set()
    for device in station.compressors:
        data = _series(
            services,
            principal,
            device.id,
            {"power_kw": "avg", "state": "last", "flow_m3_min": "avg", "discharge_pressure_bar": "avg"},
            first,
            end_ms,
        )
        seen.update(data["power_kw"])
        power = _held(grid, data["power_kw"], 0.0)
        total_kw += power
        series.append(
            CompressorSeries(
                name=device.name,
                power_kw=power,
                state=_held(grid, data["state"], 0.0).round(),
                flow_m3_min=_held(grid, data["flow_m3_min"], 0.0),
                pressure_barg=_held(grid, data["discharge_pressure_bar"], math.nan),
            )
        )
    header = None
    if station.header is not None:
        pressure = _series(services, principal, station.header.id, {"pressure_bar": "avg"}, first, end_ms)
        if pressure["pressure_bar"]:
            header = _held(grid, pressure["pressure_bar"], next(iter(pressure["pressure_bar"].values())))
    report = analyse_station(ts_s, series, header)
    chosen = tariff or load_tariff(sample_tariff_path())
    kwh_per_minute = total_kw / 60.0
    return StationView(
        station=station,
        report=report,
        cost=energy_cost(chosen, ts_s, kwh_per_minute, 60.0, demand=False),
        carbon=carbon(kwh_per_minute),
        hours=len(grid) / 60.0,
        minutes_with_data=len(seen),
    )


def finite(value: float | None) -> float | None:
    """None for NaN or None (the page shows a dash), else the value."""
    return None if value is None or not math.isfinite(value) else value


def cost_rows(cost: CostBreakdown) -> Sequence[dict[str, Any]]:
    """kWh and cost per tariff period, most expensive first."""
    rows = [
        {"period": period, "kwh": kwh, "cost": cost.cost_by_period.get(period, 0.0)}
        for period, kwh in cost.kwh_by_period.items()
    ]
    return sorted(rows, key=lambda r: -r["cost"])
