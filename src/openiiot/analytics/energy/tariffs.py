"""Time-of-use electricity tariffs as configuration data, and kWh -> cost (domain-methods B5).

A tariff file (TOML) names its periods (critical_peak, peak, flat, valley, deep_valley, or any other), their
prices (absolute ``[prices]`` or ``flat_price_per_kwh`` x ``[ratios]``), the daily schedule of periods per
season (months) and for special days (holidays), and a demand charge per kW-month. Times are local wall
clock in the tariff's time zone; minutes not covered by any range take ``default_period``. A bad file raises
``TariffError`` naming the bad field, e.g. ``seasons[1].periods[2].to``. See docs/energy.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openiiot.domain.errors import ValidationFailed

PERIODS = ("critical_peak", "peak", "flat", "valley", "deep_valley")
_MINUTES = 1440


class TariffError(ValidationFailed):
    """A tariff file or table is invalid; ``field`` names the offending field."""


@dataclass(frozen=True)
class Tariff:
    """A validated time-of-use tariff."""

    name: str
    currency: str
    timezone: str
    source: str
    prices: dict[str, float]  # per kWh, by period name
    period_names: tuple[str, ...]  # index -> period name
    month_schedule: NDArray[np.int64]  # (13, 1440) period index per month (row 0 unused) and minute of day
    special_days: dict[date, NDArray[np.int64]]  # date -> (1440,) period index per minute
    demand_charge_per_kw_month: float

    def periods_at(self, ts_s: ArrayLike) -> NDArray[np.int64]:
        """Period index (into ``period_names``) of each UTC timestamp in seconds."""
        local = local_seconds(ts_s, self.timezone)
        minute = (local // 60) % _MINUTES
        month = local.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1
        out = self.month_schedule[month, minute]
        if self.special_days:
            days = local.astype("datetime64[s]").astype("datetime64[D]")
            for d, schedule in self.special_days.items():
                hit = days == np.datetime64(d, "D")
                out[hit] = schedule[minute[hit]]
        return np.asarray(out, dtype=np.int64)

    def price_at(self, ts_s: ArrayLike) -> NDArray[np.float64]:
        """Price per kWh in force at each UTC timestamp."""
        table = np.array([self.prices[n] for n in self.period_names])
        return np.asarray(table[self.periods_at(ts_s)], dtype=np.float64)


@dataclass(frozen=True)
class CostBreakdown:
    """Electricity cost of a metered series under a tariff."""

    currency: str
    energy_kwh: float
    energy_cost: float
    demand_cost: float
    kwh_by_period: dict[str, float]
    cost_by_period: dict[str, float]
    peak_demand_kw_by_month: dict[str, float]  # "YYYY-MM" -> highest interval demand

    @property
    def total_cost(self) -> float:
        return self.energy_cost + self.demand_cost

    @property
    def average_price_per_kwh(self) -> float:
        return self.total_cost / self.energy_kwh if self.energy_kwh else 0.0


def energy_cost(
    tariff: Tariff, ts_s: ArrayLike, energy_kwh: ArrayLike, interval_s: float, *, demand: bool = True
) -> CostBreakdown:
    """Cost of the energy of each interval starting at ``ts_s`` (UTC s), plus the monthly demand charge.

    Demand per month = the highest interval average power (kWh / interval hours) in that local month.
    """
    e = np.asarray(energy_kwh, dtype=np.float64)
    idx = tariff.periods_at(ts_s)
    prices = np.array([tariff.prices[n] for n in tariff.period_names])
    kwh_by = np.bincount(idx, weights=e, minlength=len(tariff.period_names))
    by_name = {n: float(kwh_by[i]) for i, n in enumerate(tariff.period_names) if kwh_by[i]}
    cost_by = {n: by_name[n] * tariff.prices[n] for n in by_name}
    peaks: dict[str, float] = {}
    if demand and e.size:
        months = local_seconds(ts_s, tariff.timezone).astype("datetime64[s]").astype("datetime64[M]")
        kw = e / (interval_s / 3600.0)
        for m in np.unique(months):
            peaks[str(m)] = float(kw[months == m].max())
    return CostBreakdown(
        currency=tariff.currency,
        energy_kwh=float(e.sum()),
        energy_cost=float(e @ prices[idx]),
        demand_cost=sum(peaks.values()) * tariff.demand_charge_per_kw_month,
        kwh_by_period=by_name,
        cost_by_period=cost_by,
        peak_demand_kw_by_month=peaks,
    )


def local_seconds(ts_s: ArrayLike, timezone: str) -> NDArray[np.int64]:
    """UTC seconds -> local wall-clock seconds since the epoch, one zone lookup per UTC day."""
    ts = np.floor(np.asarray(ts_s, dtype=np.float64)).astype(np.int64)
    tz = ZoneInfo(timezone)
    days = ts // 86400
    offsets = np.empty(ts.size, dtype=np.int64)
    for day in np.unique(days).tolist():
        sel = days == day
        at = [datetime.fromtimestamp(day * 86400 + h, UTC).astimezone(tz).utcoffset() for h in (0, 86399)]
        if at[0] == at[1] and at[0] is not None:
            offsets[sel] = int(at[0].total_seconds())
        else:  # a DST change on this day: look every timestamp up
            for i in np.flatnonzero(sel).tolist():
                off = datetime.fromtimestamp(int(ts[i]), UTC).astimezone(tz).utcoffset()
                offsets[i] = int(off.total_seconds()) if off is not None else 0
    return ts + offsets


def sample_tariff_path(name: str = "zhejiang-large-industry") -> Path:
    """Path of a tariff file shipped with the package (``analytics/energy/tariffs/<name>.toml``)."""
    return Path(str(resources.files("openiiot.analytics.energy") / "tariffs" / f"{name}.toml"))


def load_tariff(path: str | Path) -> Tariff:
    """Read and validate a TOML tariff file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(f"{path}: not valid TOML: {exc}", field="(file)") from exc
    return parse_tariff(data)


def parse_tariff(data: Mapping[str, Any]) -> Tariff:
    """Validate a tariff table (as read from TOML); errors name the bad field."""
    name = _text(data, "name")
    tz = _text(data, "timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise TariffError(f"unknown time zone {tz!r}", field="timezone") from exc
    prices = _prices(data)
    names = tuple(prices)
    index = {n: i for i, n in enumerate(names)}
    default = data.get("default_period", "flat")
    if not isinstance(default, str) or default not in index:
        raise TariffError(f"default_period {default!r} has no price", field="default_period")
    seasons = data.get("seasons")
    if not isinstance(seasons, list) or not seasons:
        raise TariffError("at least one [[seasons]] table is required", field="seasons")
    schedule = np.full((13, _MINUTES), -1, dtype=np.int64)
    for i, season in enumerate(seasons):
        where = f"seasons[{i}]"
        if not isinstance(season, dict):
            raise TariffError("must be a table with months and periods", field=where)
        months = season.get("months")
        if not isinstance(months, list) or not months:
            raise TariffError("months must be a non-empty list of 1..12", field=f"{where}.months")
        day = _day(season.get("periods", []), index, index[default], f"{where}.periods")
        for mo in months:
            if isinstance(mo, bool) or not isinstance(mo, int) or not 1 <= mo <= 12:
                raise TariffError(f"month {mo!r} is not in 1..12", field=f"{where}.months")
            if schedule[mo, 0] >= 0:
                raise TariffError(f"month {mo} is in two seasons", field=f"{where}.months")
            schedule[mo] = day
    missing = [m for m in range(1, 13) if schedule[m, 0] < 0]
    if missing:
        raise TariffError(f"months {missing} belong to no season", field="seasons")
    specials: dict[date, NDArray[np.int64]] = {}
    special_days = data.get("special_days", [])
    if not isinstance(special_days, list):
        raise TariffError("must be a list of tables", field="special_days")
    for i, sd in enumerate(special_days):
        where = f"special_days[{i}]"
        if not isinstance(sd, dict) or not isinstance(sd.get("dates", []), list):
            raise TariffError("must be a table with a list of dates and periods", field=where)
        day = _day(sd.get("periods", []), index, index[default], f"{where}.periods")
        for d in sd.get("dates", []):
            try:
                specials[d if isinstance(d, date) else date.fromisoformat(str(d))] = day
            except ValueError as exc:
                raise TariffError(f"date {d!r} is not YYYY-MM-DD", field=f"{where}.dates") from exc
    demand = data.get("demand_charge", {})
    if not isinstance(demand, dict):
        raise TariffError("must be a table with per_kw_month", field="demand_charge")
    charge = demand.get("per_kw_month", 0.0)
    if isinstance(charge, bool) or not isinstance(charge, int | float) or not charge >= 0:
        raise TariffError("must be a number >= 0", field="demand_charge.per_kw_month")
    return Tariff(
        name=name,
        currency=str(data.get("currency", "CNY")),
        timezone=tz,
        source=_text(data, "source"),
        prices=prices,
        period_names=names,
        month_schedule=schedule,
        special_days=specials,
        demand_charge_per_kw_month=float(charge),
    )


def _text(data: Mapping[str, Any], key: str) -> str:
    v = data.get(key)
    if not isinstance(v, str) or not v.strip():
        raise TariffError(f"{key} is required (non-empty text)", field=key)
    return v


def _prices(data: Mapping[str, Any]) -> dict[str, float]:
    scale: Any = 1.0
    if "prices" in data:
        table, key = data["prices"], "prices"
    elif "ratios" in data:
        scale = data.get("flat_price_per_kwh")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale >= 0:
            raise TariffError("must be a number >= 0 when [ratios] is used", field="flat_price_per_kwh")
        table, key = data["ratios"], "ratios"
    else:
        raise TariffError("give [prices] per kWh, or flat_price_per_kwh and [ratios]", field="prices")
    if not isinstance(table, dict) or not table:
        raise TariffError("must be a table of period = number", field=key)
    out = {}
    for period, v in table.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or not v >= 0:
            raise TariffError(f"{v!r} is not a number >= 0", field=f"{key}.{period}")
        out[str(period)] = float(v) * float(scale)
    return out


def _minute(value: Any, field: str) -> int:
    try:
        hh, mm = str(value).split(":")
        h, m = int(hh), int(mm)
    except ValueError as exc:
        raise TariffError(f"{value!r} is not HH:MM", field=field) from exc
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > _MINUTES:
        raise TariffError(f"{value!r} is not a time of day 00:00..24:00", field=field)
    return h * 60 + m


def _day(ranges: Sequence[Any], index: Mapping[str, int], default: int, where: str) -> NDArray[np.int64]:
    day = np.full(_MINUTES, -1, dtype=np.int64)
    if not isinstance(ranges, list):
        raise TariffError("must be a list of {from, to, period} tables", field=where)
    for j, r in enumerate(ranges):
        f = f"{where}[{j}]"
        if not isinstance(r, dict):
            raise TariffError("must be a table {from, to, period}", field=f)
        period = str(r.get("period"))
        if period not in index:
            raise TariffError(f"period {period!r} has no price", field=f"{f}.period")
        a, b = _minute(r.get("from"), f"{f}.from"), _minute(r.get("to"), f"{f}.to")
        spans = [(a, b)] if a < b else [(a, _MINUTES), (0, b)]  # a range may cross midnight
        if a == b:
            raise TariffError("from and to are equal", field=f"{f}.to")
        for lo, hi in spans:
            if np.any(day[lo:hi] >= 0):
                raise TariffError("overlaps an earlier range", field=f)
            day[lo:hi] = index[period]
    day[day < 0] = default
    return day
