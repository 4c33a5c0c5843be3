"""Energy benchmark: a one-year hourly savings report for one compressor station (target <= 1 s).

A seeded synthetic station (air demand by shift and weekday, ambient temperature, operating hours) gives a
baseline year and a reporting year with a known 12 % reduction, 8,760 hours each. Timed: fitting the
baseline (OLS on air, operating hours and cooling degree-hours, with G14 statistics), the avoided energy
with its uncertainty and CUSUM, the cost of both under the Zhejiang TOU tariff (period lookup per hour,
monthly demand charge), coal and CO2 — i.e. `station_savings_report`. Reference in the same run: one bare
`numpy.linalg.lstsq` of the same design matrix (the floor of the regression step). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from bench_harness import machine_info  # noqa: E402
from openiiot.analytics.energy.baseline import DegreeDayTerm, fit_baseline  # noqa: E402
from openiiot.analytics.energy.report import station_savings_report  # noqa: E402
from openiiot.analytics.energy.tariffs import load_tariff, sample_tariff_path  # noqa: E402

MARK_START = "<!-- bench:energy:start -->"
MARK_END = "<!-- bench:energy:end -->"
TARGET_S = 1.0
HOURS = 8760


def station_year(
    seed: int, start: datetime, factor: float
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(UTC seconds, relevant variables, kWh) of one synthetic station year, hourly."""
    rng = np.random.default_rng(seed)
    ts = start.timestamp() + 3600.0 * np.arange(HOURS)
    hour = (np.arange(HOURS) + 8) % 24  # local hour in UTC+8
    weekday = ((np.arange(HOURS) + 8) // 24 + start.weekday()) % 7
    working = (weekday < 6) & (hour >= 7) & (hour < 23)
    air = np.where(working, rng.normal(55.0, 6.0, HOURS), rng.normal(14.0, 2.0, HOURS)) * 60.0  # m³/h
    day = np.arange(HOURS) / 24.0
    temp = 17 + 10 * np.sin(2 * np.pi * (day - 110) / 365) + 5 * np.sin(2 * np.pi * (hour - 9) / 24)
    temp = temp + rng.normal(0, 2.0, HOURS)
    run_h = np.where(working, 1.0, rng.choice([0.0, 1.0], HOURS, p=[0.3, 0.7]))
    kwh = factor * (
        air / 60.0 * 6.2 + 45.0 * run_h + 1.8 * np.clip(temp - 25.0, 0, None) + rng.normal(0, 12.0, HOURS)
    )
    return ts, {"air_m3": air, "run_h": run_h, "temperature": temp}, kwh


def measure(repeats: int) -> dict[str, object]:
    _, xb, yb = station_year(1, datetime(2025, 1, 1, tzinfo=UTC), 1.0)
    ts_r, xr, yr = station_year(2, datetime(2026, 1, 1, tzinfo=UTC), 0.88)
    tariff = load_tariff(sample_tariff_path())
    cdd = (DegreeDayTerm("cdh", "temperature", 25.0, "cooling"),)
    full, fit, lstsq = [], [], []
    report = None
    for _ in range(repeats):
        a = time.perf_counter()
        model = fit_baseline(yb, xb, interval="hourly", degree_day_terms=cdd)
        b = time.perf_counter()
        report = station_savings_report(model, ts_r, xr, yr, interval_s=3600.0, tariff=tariff)
        c = time.perf_counter()
        full.append(c - a)
        fit.append(b - a)
        x = np.column_stack(
            [np.ones(HOURS), xb["air_m3"], xb["run_h"], np.clip(xb["temperature"] - 25, 0, None)]
        )
        d = time.perf_counter()
        np.linalg.lstsq(x, yb, rcond=None)
        lstsq.append(time.perf_counter() - d)
    assert report is not None
    return {"full": full, "fit": fit, "lstsq": lstsq, "report": report}


def render(res: dict[str, object], repeats: int) -> str:
    m = machine_info()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    full, fit, lstsq = (sorted(res[k]) for k in ("full", "fit", "lstsq"))  # type: ignore[call-overload]
    report = res["report"]
    med = statistics.median(full)
    return "\n".join(
        [
            f"Measured {when} on {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Python {m['python']} "
            "(machine shared with other jobs).",
            "",
            "One station, baseline year and reporting year of 8,760 hourly values each; model: kWh ~ air "
            "delivered + operating hours + cooling degree-hours (25 °C); tariff: the shipped Zhejiang TOU "
            "file.",
            "",
            f"| step | median of {repeats} | min | reference in the same run |",
            "|---|---:|---:|---|",
            f"| whole savings report (fit + avoided energy + uncertainty + CUSUM + TOU cost + carbon) "
            f"| {med * 1000:.0f} ms | {full[0] * 1000:.0f} ms | target <= {TARGET_S * 1000:.0f} ms |",
            f"| baseline fit with G14 statistics | {statistics.median(fit) * 1000:.1f} ms "
            f"| {fit[0] * 1000:.1f} ms | bare numpy lstsq of the same design: "
            f"{statistics.median(lstsq) * 1000:.1f} ms |",
            "",
            f"Target <= 1 s: **{'met' if med <= TARGET_S else 'missed'}**. The report itself: "
            f"{report.summary()}",  # type: ignore[attr-defined]
            "",
            f"Command: `python benchmarks/energy.py --repeats {repeats}`",
        ]
    )


def write_marked(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_START not in text:
        text = text.rstrip() + f"\n\n## Energy: one-year hourly savings report\n\n{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_START}\n{section}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' = do not write")
    args = p.parse_args(argv)
    section = render(measure(args.repeats), args.repeats)
    print(section)
    if str(args.output) != "-":
        write_marked(args.output, section)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
