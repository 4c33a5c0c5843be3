"""Energy analytics evaluation: known savings recovered, a real plant's baseline, sequencing optimality gap.

1. eemeter simulated samples (designed 10 % saving): a CalTRACK-style daily degree-day baseline on the
   365 days before the intervention, avoided energy over the 365 days after; the recovered saving must be
   within ±2 points of 10 %. The monthly billing and daily gas samples are run the same way; the hourly
   sample with 168 time-of-week bins plus the daily model's degree-hour terms.
2. UCI steel plant (real, 2018, 15 min): a baseline by load regime (hours in each `Load_Type` regime per day,
   and regime indicators per 15 min), fitted on January-September, judged on October-December, with
   CV(RMSE), NMBE and R² against the ASHRAE Guideline 14 limits.
3. Sequencing: the MILP plan against an exhaustive search on seeded small stations (gap in energy).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from openiiot.analytics.energy.baseline import (  # noqa: E402
    BaselineModel,
    DegreeDayTerm,
    fit_baseline,
    fit_degree_day_baseline,
    goodness_of_fit,
    one_hot,
    time_of_week,
)
from openiiot.analytics.energy.savings import avoided_energy  # noqa: E402
from openiiot.analytics.energy.sequencing import Compressor, plan_sequence  # noqa: E402

TITLE = "Energy: baselines, savings and sequencing"
EEMETER = "eemeter-samples-simulated"
STEEL = "uci-steel-industry-energy"


def run(datasets: Path) -> str:
    """All three parts as Markdown."""
    return "\n\n".join([_eemeter(datasets / EEMETER), _steel(datasets / STEEL), _sequencing()])


# -- 1. eemeter -----------------------------------------------------------------------------------------


def _read_gz(path: Path) -> list[tuple[datetime, float]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [(datetime.fromisoformat(a), float(b) if b not in ("", "nan") else math.nan) for a, b in rows]


def _hourly_temperature(path: Path) -> dict[date, list[float]]:
    """Hourly °F temperatures by local day."""
    by_day: dict[date, list[float]] = defaultdict(list)
    for ts, t in _read_gz(path):
        if math.isfinite(t):
            by_day[ts.date()].append(t)
    return by_day


def _padded(rows: list[list[float]]) -> np.ndarray:
    width = max(len(r) for r in rows)
    return np.array([r + [math.nan] * (width - len(r)) for r in rows])


def _eemeter_case(
    folder: Path, sample: str, temps: dict[date, list[float]]
) -> tuple[str, float, BaselineModel]:
    meta = json.loads((folder / "metadata.json").read_text())[sample]
    designed = 1 - meta["annual_reporting_total_load"] / meta["annual_baseline_total_load"]
    start = date.fromisoformat(meta["blackout_start_date"])
    end = date.fromisoformat(meta["blackout_end_date"])
    rows = _read_gz(folder / meta["meter_data_filename"])
    monthly = meta["freq"].startswith("billing")
    # a billing value is stamped at the start of its period; its temperatures are that period's hourly ones
    periods = []
    for i, (ts, v) in enumerate(rows[:-1]):
        nxt = rows[i + 1][0].date()
        days = [ts.date() + timedelta(d) for d in range((nxt - ts.date()).days)]
        t = [x for d in days for x in temps.get(d, [])]
        if math.isfinite(v) and len(t) >= 0.9 * 24 * len(days):
            periods.append((ts.date(), nxt, v / len(days), t, len(days)))
    # CalTRACK: one year of baseline before the intervention, one year of reporting after it
    count = 12 if monthly else 365
    base = [p for p in periods if p[1] <= start][-count:]
    rep = [p for p in periods if p[0] > end][:count]
    interval = "monthly" if monthly else "daily"
    # energy per day as the response keeps billing periods of unequal length comparable (CalTRACK)
    model = fit_degree_day_baseline(
        [p[2] for p in base], {"temperature": _padded([p[3] for p in base])}, interval=interval
    )
    per_day = avoided_energy(model, {"temperature": _padded([p[3] for p in rep])}, [p[2] for p in rep])
    days_rep = np.array([p[4] for p in rep], dtype=float)
    predicted = model.predict({"temperature": _padded([p[3] for p in rep])}) * days_rep
    actual = np.array([p[2] for p in rep]) * days_rep
    frac = float(1 - actual.sum() / predicted.sum())
    raw = 1 - sum(p[2] * p[4] for p in rep) / sum(p[2] * p[4] for p in base)
    terms = ", ".join(f"{t.name} {t.base:g} °F" for t in model.degree_day_terms) or "intercept only"
    verdict = "accepted" if per_day.accepted else "refused: " + "; ".join(per_day.reasons)
    unc = (
        f"±{per_day.uncertainty_kwh / per_day.baseline_kwh:.1%}"
        if per_day.uncertainty_kwh is not None
        else "-"
    )
    line = (
        f"| {sample} | {len(base)} / {len(rep)} | {terms} | {model.cvrmse_pct:.1f} | {model.nmbe_pct:.2f} "
        f"| {model.r2:.3f} | {raw:.1%} | {frac:.1%} ({unc}) | {designed:.0%} "
        f"| {abs(frac - designed) * 100:.2f} "
        f"| {verdict} |"
    )
    return line, abs(frac - designed) * 100, model


def _eemeter(folder: Path) -> str:
    head = "### Known savings: OpenEEmeter simulated samples\n\n"
    if not (folder / "metadata.json").exists():
        return head + f"Skipped: `{folder}` is absent (needs the `{EEMETER}` dataset)."
    temps = _hourly_temperature(folder / "il-tempF.csv.gz")
    lines = [
        head + "Baseline: the 365 days before the intervention; reporting: the 365 days after it. Degree-day "
        "model chosen CalTRACK-style (intercept, HDD, CDD, HDD+CDD; balance points 30-90 °F in 3 °F steps; "
        "degree-days of each period = mean of its hourly degree-hours; "
        "positive coefficients; best adjusted R²). Response: kWh per day of each period. Target: the "
        "designed saving recovered within ±2 points.",
        "",
        "| sample | periods base / reporting | model | CV(RMSE) % | NMBE % | R² | raw drop | recovered "
        "saving (68 %) | designed | error, points | savings report |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    errors = []
    daily_terms: tuple[DegreeDayTerm, ...] = ()
    for sample in (
        "il-electricity-cdd-hdd-daily",
        "il-electricity-cdd-hdd-billing_monthly",
        "il-gas-hdd-only-daily",
    ):
        line, err, model = _eemeter_case(folder, sample, temps)
        lines.append(line)
        errors.append(err)
        if sample == "il-electricity-cdd-hdd-daily":
            daily_terms = model.degree_day_terms
    line, err = _eemeter_hourly(folder, daily_terms)
    lines.append(line)
    errors.append(err)
    ok = all(e <= 2.0 for e in errors)
    lines += [
        "",
        f"Target ±2 points: **{'met' if ok else 'missed'}** (largest error {max(errors):.2f} points). "
        "The raw year-on-year drop differs from the designed 10 % because the two years' weather differs; "
        "the baseline normalises it away. Where the savings report is refused (a model outside the G14 "
        "limits), the recovered figure is shown for the arithmetic only: the platform would not report it. "
        "The data are simulated: this checks arithmetic, not real accuracy. Gas values are therms.",
    ]
    return "\n".join(lines)


def _eemeter_hourly(folder: Path, terms: tuple[DegreeDayTerm, ...]) -> tuple[str, float]:
    """The hourly sample: 168 time-of-week bins + the daily model's degree-hour terms (no search: speed)."""
    sample = "il-electricity-cdd-hdd-hourly"
    meta = json.loads((folder / "metadata.json").read_text())[sample]
    temp = {ts: t for ts, t in _read_gz(folder / meta["temperature_filename"]) if math.isfinite(t)}
    rows = [
        (ts, v) for ts, v in _read_gz(folder / meta["meter_data_filename"]) if math.isfinite(v) and ts in temp
    ]
    start = date.fromisoformat(meta["blackout_start_date"])
    end = date.fromisoformat(meta["blackout_end_date"])
    base = [r for r in rows if r[0].date() < start][-8760:]
    rep = [r for r in rows if r[0].date() > end][:8760]
    tz = "America/Chicago"  # the samples are stamped -06:00: US Central (NOAA station 724390, Illinois)

    def variables(part: list[tuple[datetime, float]]) -> dict[str, np.ndarray]:
        tow = time_of_week([r[0].timestamp() for r in part], tz)
        return {
            **one_hot(tow, "tow_", levels=range(168)),
            "temperature": np.array([temp[r[0]] for r in part]),
        }

    model = fit_baseline([r[1] for r in base], variables(base), interval="hourly", degree_day_terms=terms)
    rep_vars = variables(rep)
    actual = np.array([r[1] for r in rep])
    frac = float(1 - actual.sum() / model.predict(rep_vars).sum())
    report = avoided_energy(model, rep_vars, actual)
    designed = 1 - meta["annual_reporting_total_load"] / meta["annual_baseline_total_load"]
    raw = 1 - actual.sum() / sum(r[1] for r in base)
    names = ", ".join(f"{t.name} {t.base:g} °F" for t in terms)
    verdict = "accepted" if report.accepted else "refused: " + "; ".join(report.reasons)
    return (
        f"| {sample} (168 time-of-week bins + {names} from the daily model) | {len(base)} / {len(rep)} h "
        f"| TOWT-style | {model.cvrmse_pct:.1f} | {model.nmbe_pct:.2f} | {model.r2:.3f} | {raw:.1%} "
        f"| {frac:.1%} | {designed:.0%} | {abs(frac - designed) * 100:.2f} | {verdict} |"
    ), abs(frac - designed) * 100


# -- 2. steel plant ----------------------------------------------------------------------------------------


def _steel_rows(path: Path) -> tuple[list[datetime], np.ndarray, list[str], np.ndarray]:
    stamps, kwh, regime, kvarh = [], [], [], []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ts = datetime.strptime(row["date"], "%d/%m/%Y %H:%M")
            if ts.hour == 0 and ts.minute == 0:
                ts += timedelta(days=1)  # the midnight quirk (SOURCE.md)
            stamps.append(ts - timedelta(minutes=15))  # interval start
            kwh.append(float(row["Usage_kWh"]))
            regime.append(row["Load_Type"])
            kvarh.append(float(row["Lagging_Current_Reactive.Power_kVarh"]))
    return stamps, np.array(kwh), regime, np.array(kvarh)


def _judge(name: str, m: BaselineModel, y_test: np.ndarray, pred: np.ndarray) -> str:
    cv, nmbe, r2, _ = goodness_of_fit(y_test, pred, m.p)
    return (
        f"| {name} | {m.n} | {m.cvrmse_pct:.1f} | {m.nmbe_pct:.2f} | {m.r2:.3f} "
        f"| {len(y_test)} | {cv:.1f} | {nmbe:.2f} | {r2:.3f} |"
    )


def _steel(folder: Path) -> str:
    head = "### Real plant: UCI steel industry energy, baseline by load regime\n\n"
    path = folder / "Steel_industry_data.csv"
    if not path.exists():
        return head + f"Skipped: `{path}` is absent (needs the `{STEEL}` dataset)."
    stamps, kwh, regime, kvarh = _steel_rows(path)
    fit = np.array([s.month <= 9 for s in stamps])
    weekend = np.array([float(s.weekday() >= 5) for s in stamps])
    lines = [
        head + "Fitted on January-September 2018, judged out of sample on October-December. Limits (ASHRAE "
        "Guideline 14): hourly-type data CV(RMSE) <= 30 %, |NMBE| <= 10 %; daily data the same.",
        "",
        "| model | fit n | fit CV(RMSE) % | fit NMBE % | fit R² | test n | test CV(RMSE) % | test NMBE % "
        "| test R² |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # a) 15-min: regime indicators (+ weekend)
    dummies = one_hot(regime, prefix="regime_")
    x = {**dummies, "weekend": weekend}
    m = fit_baseline(kwh[fit], {k: v[fit] for k, v in x.items()}, interval="hourly")
    pred = m.predict({k: v[~fit] for k, v in x.items()})
    lines.append(_judge("15 min: regime + weekend", m, kwh[~fit], pred))
    # b) 15-min: regime + lagging reactive energy (a measured relevant variable of the same meter)
    x2 = {**x, "kvarh": kvarh}
    m2 = fit_baseline(kwh[fit], {k: v[fit] for k, v in x2.items()}, interval="hourly")
    pred2 = m2.predict({k: v[~fit] for k, v in x2.items()})
    lines.append(_judge("15 min: regime + weekend + reactive kVArh", m2, kwh[~fit], pred2))
    # c) daily: hours per regime (operating hours by load regime, ISO 50006 relevant variables)
    days: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s, e, r in zip(stamps, kwh, regime, strict=True):
        d = days[s.date()]
        d["kwh"] += e
        d[r] += 0.25
    ds = sorted(days)
    yd = np.array([days[d]["kwh"] for d in ds])
    xd = {
        "h_medium": np.array([days[d]["Medium_Load"] for d in ds]),
        "h_max": np.array([days[d]["Maximum_Load"] for d in ds]),
        "weekend": np.array([float(d.weekday() >= 5) for d in ds]),
    }
    fd = np.array([d.month <= 9 for d in ds])
    m3 = fit_baseline(yd[fd], {k: v[fd] for k, v in xd.items()}, interval="daily")
    pred3 = m3.predict({k: v[~fd] for k, v in xd.items()})
    lines.append(_judge("daily: hours per regime + weekend", m3, yd[~fd], pred3))
    verdicts = [
        f"- {name}: {'passes' if mm.accepted else 'fails: ' + '; '.join(mm.failures)}"
        for name, mm in (("15 min regime", m), ("15 min regime + kVArh", m2), ("daily regime hours", m3))
    ]
    lines += [
        "",
        "Acceptance of each fitted baseline (savings are refused from a failing one):",
        *verdicts,
    ]
    return "\n".join(lines)


# -- 3. sequencing -----------------------------------------------------------------------------------------


def _stations(count: int, seed: int = 6) -> list[list[Compressor]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        units = []
        for j in range(int(rng.integers(2, 5))):
            q = float(rng.choice([10.0, 12.0, 16.0, 20.0, 25.0]))
            units.append(
                Compressor(
                    f"S{i}F{j}",
                    q,
                    q * float(rng.uniform(5.8, 7.0)),
                    unloaded_share=float(rng.uniform(0.18, 0.35)),
                )
            )
        if rng.random() < 0.7:
            q = float(rng.choice([12.0, 18.0, 24.0]))
            full = q * float(rng.uniform(5.8, 6.6))
            units.append(
                Compressor(
                    f"S{i}V",
                    q,
                    full,
                    kind="vsd",
                    min_flow_m3_min=q * float(rng.uniform(0.25, 0.45)),
                    min_flow_kw=full * float(rng.uniform(0.35, 0.5)),
                )
            )
        out.append(units)
    return out


def _sequencing() -> str:
    head = "### Sequencing plan against an exhaustive search\n\n"
    rows = []
    gaps = []
    t_milp = t_brute = 0.0
    stations = _stations(8)
    hours = np.arange(24)
    for units in stations:
        cap = sum(u.rated_flow_m3_min for u in units)
        shift = np.where((hours >= 8) & (hours < 20), 0.75, 0.3)  # day shift and night
        demand = cap * shift * np.random.default_rng(len(units)).uniform(0.85, 1.1, 24)
        a = time.perf_counter()
        milp = plan_sequence(units, demand, pressure_barg=6.5)
        b = time.perf_counter()
        brute = plan_sequence(units, demand, pressure_barg=6.5, method="exhaustive")
        c = time.perf_counter()
        t_milp += b - a
        t_brute += c - b
        gap = (milp.energy_kwh - brute.energy_kwh) / brute.energy_kwh
        gaps.append(gap)
        kinds = f"{sum(u.kind == 'fixed' for u in units)} fixed + {sum(u.kind == 'vsd' for u in units)} VSD"
        rows.append(
            f"| {kinds} | {cap:.0f} | {brute.energy_kwh:,.1f} | {milp.energy_kwh:,.1f} | {gap:+.2e} "
            f"| {milp.shortfall_steps} |"
        )
    return "\n".join(
        [
            head + "Eight seeded stations (2-4 fixed-speed load/unload units, 70 % with one VSD), a 24-hour "
            "profile (day shift 75 % of capacity, night 30 %, ±15 % noise), set-point 6.5 barg. Both "
            "methods solve the same model (off/base/trim, at most one fixed trim unit, VSD between turndown "
            "and full).",
            "",
            "| station | capacity m³/min | exhaustive kWh/day | MILP kWh/day | gap | hours short |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Largest gap {max(abs(g) for g in gaps):.1e} (relative): the MILP finds the optimum. Time for "
            f"all stations: MILP {t_milp:.2f} s, exhaustive {t_brute:.2f} s (the exhaustive search grows as "
            "3^fixed x 2^VSD and is kept for small stations).",
        ]
    )


if __name__ == "__main__":
    default = Path(os.environ.get("OPENIIOT_DATASETS", ROOT.parent / "shared" / "datasets"))
    print(run(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
