"""The mission's story as a scenario: a year before, a year after leak repair, lower pressure and a sequencer.

1. **Before** (baseline period): the station runs a simulated year under cascaded pressure bands with the
   VSD set at the lowest band and leaks of 20 m³/min at 7 bar.
2. **After** (reporting period): the next year (for runs shorter than a year: the same calendar window a
   year on), leaks repaired, one narrow band at a lower set-point held by a central sequencer — with
   slightly more production, so the baseline must be adjusted.
3. **Counterfactual** (ground truth only): the reporting year again, same plant and weather, under the
   before configuration; true avoided energy = counterfactual - after, exactly.

The report then does what a user of the platform does, from metered data only: leak flow from the
no-demand windows (timed load/unload) and from a pressure-decay test, a baseline model of hourly energy
against production, operating hours and ambient temperature fitted on the before year (ASHRAE 14
statistics, refused when it fails), avoided kWh and cost under a time-of-use tariff with uncertainty — and
sets each beside the simulator's truth.
"""

from __future__ import annotations

import copy
import csv
import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from openiiot.analytics.energy.baseline import BaselineModel, fit_baseline
from openiiot.analytics.energy.kpis import CompressorSeries, StationReport, analyse_station
from openiiot.analytics.energy.leaks import LeakEstimate, leaks_from_no_demand, leaks_from_pressure_decay
from openiiot.analytics.energy.report import StationSavingsReport, station_savings_report
from openiiot.analytics.energy.tariffs import Tariff, energy_cost, load_tariff, sample_tariff_path
from openiiot.sim.air_station import (
    AirStation,
    ControlMode,
    HourlyRecord,
    StationConfig,
    concat_records,
    default_station,
)
from openiiot.sim.compressor import P_ATM_BAR

_HOUR_MS = 3_600_000
_SAMPLE_S = 5.0  # telemetry interval in the leak-test windows
_DECAY_SAMPLE_S = 1.0
_LEAK_TEST_HOURS = 24  # idle hours whose telemetry the leak estimate reads


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """What the before-after scenario simulates."""

    seed: int = 2026
    days: int = 365  # length of each period
    start_local: datetime = datetime(2025, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
    leak_before_m3_min: float = 20.0  # at 7 bar
    leak_after_m3_min: float = 7.0  # after the repair campaign
    target_after_bar: float = 6.3  # sequencer set-point after (required at the header: 6.0 bar)
    growth_after: float = 1.03  # the reporting year produces 3 % more
    tariff_path: Path | None = None  # default: the sample Zhejiang tariff

    @property
    def start_ts_ms(self) -> int:
        return int(self.start_local.timestamp() * 1000)

    def before(self) -> StationConfig:
        """The station as found: cascaded bands, leaky."""
        return default_station(ControlMode.CASCADE, leak_m3_min=self.leak_before_m3_min)

    def after(self) -> StationConfig:
        """Leaks repaired, lower set-point, central sequencer; more production."""
        config = default_station(
            ControlMode.SEQUENCER, leak_m3_min=self.leak_after_m3_min, growth=self.growth_after
        )
        return _with_target(config, self.target_after_bar)

    def counterfactual(self) -> StationConfig:
        """The before station meeting the reporting year's plant."""
        return default_station(
            ControlMode.CASCADE, leak_m3_min=self.leak_before_m3_min, growth=self.growth_after
        )


def _with_target(config: StationConfig, target: float) -> StationConfig:
    return replace(config, target_bar=target)


@dataclass(frozen=True)
class LeakCheck:
    """A leak estimate beside the true leak flow at the same pressure."""

    estimate: LeakEstimate
    true_m3_min: float

    @property
    def error(self) -> float:
        """Relative error of the estimate."""
        return self.estimate.flow_m3_min / self.true_m3_min - 1.0


@dataclass(frozen=True)
class WeekKpis:
    """Station KPIs from a day of 5 s telemetry, with the simulator's truth for the same day."""

    report: StationReport
    true_energy_kwh: float
    true_unloaded_kwh: float  # unloaded plus blow-down


@dataclass(frozen=True)
class ScenarioResult:
    """Everything the scenario produced: hourly series, truth, the model, the report, the leak checks."""

    spec: ScenarioSpec
    before: HourlyRecord
    after: HourlyRecord
    counterfactual: HourlyRecord
    model: BaselineModel
    report: StationSavingsReport
    true_avoided_kwh: float
    true_cost_saved: float
    true_cost_share: float
    leak_timed: LeakCheck
    leak_decay: LeakCheck
    leak_after: LeakCheck
    kpis_before: WeekKpis
    kpis_after: WeekKpis
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def savings_error(self) -> float | None:
        """Reported avoided energy against the true avoided energy (relative), None when refused."""
        avoided = self.report.savings.avoided_kwh
        return None if avoided is None else avoided / self.true_avoided_kwh - 1.0

    def summary(self) -> str:
        """The report in Markdown, each figure beside its truth."""
        s = self.report.savings
        m = self.model
        days = self.spec.days
        per_year = 365.0 / days
        verdict = "accepted" if m.accepted else "refused: " + "; ".join(m.failures)
        lines = [
            f"Simulated station: five 110 kW fixed-speed units and a 160 kW VSD; {days} days before "
            f"(cascaded bands, leaks {self.spec.leak_before_m3_min:g} m³/min at 7 bar) and {days} days after "
            f"(leaks repaired to {self.spec.leak_after_m3_min:g} m³/min, central sequencer at "
            f"{self.spec.target_after_bar:g} bar, production +{(self.spec.growth_after - 1) * 100:.0f} %).",
            "",
            "**Baseline model** (hourly energy ~ production + producing hours + ambient temperature, "
            f"fitted on the before period): CV(RMSE) {m.cvrmse_pct:.1f} %, NMBE {m.nmbe_pct:.3f} %, "
            f"R² {m.r2:.3f}, n = {m.n} — {verdict}.",
            "",
        ]
        if s.accepted and s.avoided_kwh is not None and s.uncertainty_kwh is not None:
            err = self.savings_error or 0.0
            lines += [
                f"**Savings:** {s.avoided_kwh * per_year:,.0f} kWh a year "
                f"± {s.uncertainty_kwh * per_year:,.0f} kWh ({s.confidence:.0%} confidence), "
                f"{s.savings_fraction or 0:.1%} of the adjusted baseline. "
                f"True avoided energy {self.true_avoided_kwh * per_year:,.0f} kWh a year: "
                f"the report is off by {err:+.2%}.",
            ]
            if self.report.cost_saved is not None and self.report.baseline_cost is not None:
                cur = self.report.baseline_cost.currency
                lines.append(
                    f"**Cost:** {self.report.cost_saved * per_year:,.0f} {cur} a year saved, "
                    f"{self.report.cost_saved_share or 0:.1%} of the electricity cost (time-of-use tariff "
                    f"with demand charge); true {self.true_cost_saved * per_year:,.0f} {cur} "
                    f"({self.true_cost_share:.1%})."
                )
            if self.report.carbon_saved is not None:
                lines.append(
                    f"**Carbon:** {self.report.carbon_saved.coal_tce * per_year:,.0f} tce standard coal and "
                    f"{self.report.carbon_saved.co2_t * per_year:,.0f} t CO₂ a year."
                )
        else:
            lines.append("**No savings reported:** " + "; ".join(s.reasons) + ".")
        lines += ["", "**Leaks** (estimate at the operating pressure beside the true leak flow there):", ""]
        lines.append("| period | method | estimate m³/min | true m³/min | error | at bar | cost/yr |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for label, check in (
            ("before", self.leak_timed),
            ("before", self.leak_decay),
            ("after", self.leak_after),
        ):
            e = check.estimate
            lines.append(
                f"| {label} | {e.method} | {e.flow_m3_min:.2f} | {check.true_m3_min:.2f} | "
                f"{check.error:+.1%} | {e.pressure_barg:.2f} | {e.cost_per_year:,.0f} |"
            )
        lines += [
            "",
            "**Station KPIs** from a weekday of 5 s compressor telemetry (unloaded energy beside the truth):",
            "",
            "| period | SP kW/(m³/min) | isentropic eff. | unloaded kWh (truth) | mean bar | excess bar "
            "| excess power | control gap |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, wk in (("before", self.kpis_before), ("after", self.kpis_after)):
            k = wk.report.kpis
            pk = k.pressure
            lines.append(
                f"| {label} | {k.specific_power_kw_per_m3_min:.2f} | {k.isentropic_efficiency:.1%} | "
                f"{k.energy_unloaded_kwh:,.0f} ({wk.true_unloaded_kwh:,.0f}) | "
                f"{pk.mean_barg if pk else float('nan'):.2f} | {pk.excess_bar if pk else float('nan'):.2f} | "
                f"{pk.excess_power_share if pk else float('nan'):.1%} | "
                f"{wk.report.control_gap_fraction:.1%} |"
            )
        b, cf, a = self.before, self.counterfactual, self.after
        lines += [
            "",
            "**Ground truth by cause** (kWh a year):",
            "",
            "| period | total | loaded | unloaded | blow-down | excess pressure | leaks | mean bar |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, r in (("before", b), ("after, before control (truth)", cf), ("after", a)):
            lines.append(
                f"| {label} | {r.energy_kwh.sum() * per_year:,.0f} | {r.loaded_kwh.sum() * per_year:,.0f} | "
                f"{r.unloaded_kwh.sum() * per_year:,.0f} | {r.blowdown_kwh.sum() * per_year:,.0f} | "
                f"{r.excess_pressure_kwh.sum() * per_year:,.0f} | {r.leak_kwh.sum() * per_year:,.0f} | "
                f"{r.pressure_bar.mean():.2f} |"
            )
        return "\n".join(lines)


def baseline_variables(record: HourlyRecord) -> dict[str, np.ndarray]:
    """Relevant variables the measures do not change (IPMVP): production, producing hours, ambient."""
    return {
        "production": record.production,
        "producing": (record.production > 0).astype(np.float64),
        "ambient_c": record.ambient_c,
    }


def _idle_hours(station: AirStation, hours: int) -> np.ndarray:
    """Hours without production (known from the plant's schedule; the platform sees them as zero output)."""
    out = np.zeros(hours, dtype=bool)
    for d in range(math.ceil(hours / 24)):
        production = station.conditions.day(d)[0]
        n = min(24, hours - 24 * d)
        out[24 * d : 24 * d + n] = production[:n] == 0
    return out


def _kpi_week(hours: int) -> slice:
    """The hours whose telemetry the KPIs read: the second Tuesday (a weekday with its day and night
    shifts; the first day when the period is shorter)."""
    return slice(192, 216) if hours >= 216 else slice(0, min(hours, 24))


def _run_period(
    config: StationConfig, seed: int, start_ts_ms: int, hours: int, *, decay: bool = False
) -> tuple[HourlyRecord, AirStation, np.ndarray, LeakEstimate | None]:
    """Run a period; telemetry is sampled in the leak-test idle hours and the KPI day."""
    station = AirStation(config, seed, start_ts_ms)
    # leak tests on the first four idle windows (Sunday 00-06), as a survey would; not every weekend
    idle = _idle_hours(station, hours)
    idle &= np.cumsum(idle) <= _LEAK_TEST_HOURS
    sampled = idle.copy()
    sampled[_kpi_week(hours)] = True
    decay_estimate = None
    if decay and idle.any():
        first = int(np.argmax(idle))
        head = station.run_hours(first, sample_s=_SAMPLE_S, sample_hours=sampled[:first])
        decay_estimate = _decay_test(copy.deepcopy(station))
        tail = station.run_hours(hours - first, sample_s=_SAMPLE_S, sample_hours=sampled[first:])
        record = concat_records([head, tail])
    else:
        record = station.run_hours(hours, sample_s=_SAMPLE_S, sample_hours=sampled)
    return record, station, idle, decay_estimate


def _sample_hours(station: AirStation, ts: np.ndarray) -> np.ndarray:
    return np.asarray((ts * 1000.0 - station.start_ts_ms) // _HOUR_MS, dtype=np.int64)


def _week_kpis(station: AirStation, record: HourlyRecord) -> WeekKpis:
    samples = station.samples
    ts = np.array([x[0] for x in samples])
    week = _kpi_week(record.ts_ms.size)
    first_hour = int((record.ts_ms[0] - station.start_ts_ms) // _HOUR_MS)
    hour = _sample_hours(station, ts) - first_hour
    sel = (hour >= week.start) & (hour < week.stop)
    pressure = np.array([x[1] for x in samples])[sel]
    states = np.array([x[2] for x in samples])[sel].T
    flows = np.array([x[3] for x in samples])[sel].T
    powers = np.array([x[4] for x in samples])[sel].T
    cfg = station.config
    series = [
        CompressorSeries(
            f.name, powers[i], states[i], flows[i], pressure + f.loaded_drop_bar, f.rated_power_kw
        )
        for i, f in enumerate(cfg.fixed)
    ]
    if cfg.vsd is not None:
        v, i = cfg.vsd, len(cfg.fixed)
        series.append(
            CompressorSeries(
                v.name,
                powers[i],
                states[i],
                flows[i],
                pressure + v.loaded_drop_bar,
                v.rated_power_kw,
                v.min_flow_m3_min,
            )
        )
    report = analyse_station(ts[sel], series, pressure, required_barg=cfg.required_bar)
    return WeekKpis(
        report,
        float(record.energy_kwh[week].sum()),
        float(record.unloaded_kwh[week].sum() + record.blowdown_kwh[week].sum()),
    )


def _decay_test(station: AirStation) -> LeakEstimate:
    """Pressure decay on a copy of the station in a no-demand hour: every unit stopped, pressure logged."""
    for name in station.unit_names():
        station.command(name, "stop")
    rng = np.random.default_rng(1)
    ts: list[float] = []
    p: list[float] = []
    p_start = station.pressure_bar
    while station.pressure_bar > max(p_start - 1.5, 1.0) and len(ts) < 600:
        ts.append(station.t_s)
        p.append(station.pressure_bar + 0.005 * float(rng.standard_normal()))  # transmitter noise
        station.advance(_DECAY_SAMPLE_S)
    return leaks_from_pressure_decay(station.config.volume_m3, np.asarray(ts), np.asarray(p))


def _timed_leak(
    station: AirStation, record: HourlyRecord, idle: np.ndarray, tariff_price: float, sp: float
) -> LeakCheck:
    samples = station.samples
    ts = np.array([s[0] for s in samples])
    first_hour = int((record.ts_ms[0] - station.start_ts_ms) // _HOUR_MS)
    in_idle = idle[np.clip(_sample_hours(station, ts) - first_hour, 0, idle.size - 1)]
    pressure = np.array([s[1] for s in samples])
    states = np.array([s[2] for s in samples]).T
    flows = np.array([s[3] for s in samples]).T
    rated = [u.rated_fad_m3_min for u in station.config.fixed]
    if station.config.vsd is not None:
        rated.append(station.config.vsd.rated_fad_m3_min)
    operating = float(record.pressure_bar.mean())  # what the header transmitter averaged over the period
    estimate = leaks_from_no_demand(
        ts,
        list(states),
        rated,
        # only idle hours; a sample's hold time runs to the next sample, so the last one of each window
        # (which would span the week) is left out
        in_idle & np.append(np.diff(ts) <= 1.5 * _SAMPLE_S, False),
        header_pressure_barg=pressure,
        operating_barg=operating,
        flows_m3_min=list(flows),
        specific_power_kw_per_m3_min=sp,
        price_per_kwh=tariff_price,
    )
    return LeakCheck(estimate, _true_leak_at(station, operating))


def _true_leak_at(station: AirStation, pressure_barg: float) -> float:
    return station.consumption_m3_min(pressure_barg)[1]


def run_scenario(spec: ScenarioSpec | None = None) -> ScenarioResult:
    """Run the three periods and build the report (a year each by default; about a minute in all)."""
    spec = spec or ScenarioSpec()
    tariff: Tariff = load_tariff(spec.tariff_path or sample_tariff_path())
    hours = spec.days * 24
    start = spec.start_ts_ms
    # the reporting period is the same calendar window one year on (52 weeks for short runs, so weekdays
    # line up): a short baseline cannot speak for another season
    rep_start = start + (spec.days if spec.days >= 364 else 364) * 24 * _HOUR_MS
    seconds: dict[str, float] = {}

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    before, before_station, idle_before, decay = _run_period(
        spec.before(), spec.seed, start, hours, decay=True
    )
    seconds["before"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    after, after_station, idle_after, _ = _run_period(spec.after(), spec.seed + 1, rep_start, hours)
    seconds["after"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    counterfactual = AirStation(spec.counterfactual(), spec.seed + 1, rep_start).run_hours(hours)
    seconds["counterfactual"] = time.perf_counter() - t0
    seconds["cpu_simulation"] = time.process_time() - cpu0

    t0 = time.perf_counter()
    model = fit_baseline(before.energy_kwh, baseline_variables(before), interval="hourly")
    ts_s = after.ts_ms / 1000.0
    report = station_savings_report(
        model, ts_s, baseline_variables(after), after.energy_kwh, interval_s=3600.0, tariff=tariff
    )
    cost_cf = energy_cost(tariff, ts_s, counterfactual.energy_kwh, 3600.0)
    cost_after = energy_cost(tariff, ts_s, after.energy_kwh, 3600.0)
    true_cost_saved = cost_cf.total_cost - cost_after.total_cost

    base_cost = energy_cost(tariff, before.ts_ms / 1000.0, before.energy_kwh, 3600.0)
    price = base_cost.energy_cost / base_cost.energy_kwh
    sp_before = float(before.energy_kwh.sum() / (before.air_m3.sum() / 60.0))
    sp_after = float(after.energy_kwh.sum() / (after.air_m3.sum() / 60.0))
    leak_timed = _timed_leak(before_station, before, idle_before, price, sp_before)
    assert decay is not None
    decay_check = _rescaled_decay(decay, before_station, float(before.pressure_bar.mean()), price, sp_before)
    leak_after = _timed_leak(after_station, after, idle_after, price, sp_after)
    kpis_before = _week_kpis(before_station, before)
    kpis_after = _week_kpis(after_station, after)
    seconds["analytics"] = time.perf_counter() - t0
    return ScenarioResult(
        spec=spec,
        before=before,
        after=after,
        counterfactual=counterfactual,
        model=model,
        report=report,
        true_avoided_kwh=float(counterfactual.energy_kwh.sum() - after.energy_kwh.sum()),
        true_cost_saved=true_cost_saved,
        true_cost_share=true_cost_saved / cost_cf.total_cost,
        leak_timed=leak_timed,
        leak_decay=decay_check,
        leak_after=leak_after,
        kpis_before=kpis_before,
        kpis_after=kpis_after,
        seconds=seconds,
    )


def _rescaled_decay(
    decay: LeakEstimate, station: AirStation, operating: float, price: float, sp: float
) -> LeakCheck:
    """The decay test gives the leak at its own starting pressure; restate it at the operating pressure."""
    flow = decay.flow_m3_min * (operating + P_ATM_BAR) / (decay.pressure_barg + P_ATM_BAR)
    kw = flow * sp
    estimate = LeakEstimate(
        method=decay.method,
        flow_m3_min=flow,
        pressure_barg=operating,
        power_kw=kw,
        energy_kwh_per_year=kw * 8760.0,
        cost_per_year=kw * 8760.0 * price,
        detail=decay.detail,
    )
    return LeakCheck(estimate, _true_leak_at(station, operating))


_CSV_COLUMNS = (
    ("energy_kwh", "energy_kwh"),
    ("air_m3", "air_m3"),
    ("production", "production"),
    ("ambient_c", "ambient_c"),
    ("pressure_bar", "pressure_bar"),
    ("true_leak_m3", "true_leak_m3"),
    ("true_demand_m3", "true_demand_m3"),
    ("true_loaded_kwh", "loaded_kwh"),
    ("true_unloaded_kwh", "unloaded_kwh"),
    ("true_blowdown_kwh", "blowdown_kwh"),
    ("true_excess_pressure_kwh", "excess_pressure_kwh"),
    ("true_leak_kwh", "leak_kwh"),
)


def write_outputs(result: ScenarioResult, out_dir: Path) -> list[Path]:
    """hourly.csv (before, after and the counterfactual truth) and report.md in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hourly = out_dir / "hourly.csv"
    with hourly.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts_utc", "period", *(name for name, _ in _CSV_COLUMNS)])
        for period, record in (
            ("before", result.before),
            ("after", result.after),
            ("counterfactual", result.counterfactual),
        ):
            cols = [getattr(record, attr) for _, attr in _CSV_COLUMNS]
            for i, ts in enumerate(record.ts_ms.tolist()):
                stamp = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")
                writer.writerow([stamp, period, *(f"{c[i]:.4f}" for c in cols)])
    report = out_dir / "report.md"
    report.write_text("# Before-after scenario\n\n" + result.summary() + "\n", encoding="utf-8")
    return [hourly, report]
