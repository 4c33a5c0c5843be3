"""Station simulator and the before-after scenario against the simulator's exact ground truth.

1. The full scenario (`openiiot sim station --scenario before-after`): a simulated year under cascaded
   bands, a year after leak repair, a lower set-point and the central sequencer, and the counterfactual
   year (the before station meeting the after year's plant) as the truth. The report's avoided energy must
   lie within ±5 % of the true avoided energy; each leak estimate within ±10 % of the true leak flow.
2. The same claims over other seeds with 8-week periods (spread of the errors).
3. Speed: seconds per simulated year of each station, with the machine's load at the time.
No dataset is needed: everything comes from the seeded simulator.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from openiiot.sim.station_scenario import ScenarioResult, ScenarioSpec, run_scenario  # noqa: E402

TITLE = "Energy: station simulator and the before-after scenario"
SAVINGS_TOLERANCE = 0.05
LEAK_TOLERANCE = 0.10


def run(datasets: Path) -> str:
    """All parts as Markdown (`datasets` is unused: the simulator is the data)."""
    del datasets
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    year = run_scenario(ScenarioSpec(seed=2026, days=365))
    year_s = time.perf_counter() - started
    parts = [_full_year(year, year_s), _seeds(), _speed(year, load)]
    return "\n\n".join(parts)


def _ok(flag: bool) -> str:
    return "pass" if flag else "**FAIL**"


def _full_year(r: ScenarioResult, took_s: float) -> str:
    s = r.report.savings
    lines = ["### The scenario over a full year (seed 2026)", "", r.summary(), ""]
    if s.accepted and s.avoided_kwh is not None and s.uncertainty_kwh is not None:
        err = r.savings_error or 0.0
        lines += [
            "| claim | reported | truth | error | tolerance | verdict |",
            "|---|---:|---:|---:|---:|---|",
            f"| avoided energy, kWh | {s.avoided_kwh:,.0f} ± {s.uncertainty_kwh:,.0f} | "
            f"{r.true_avoided_kwh:,.0f} | {err:+.2%} | ±{SAVINGS_TOLERANCE:.0%} | "
            f"{_ok(abs(err) <= SAVINGS_TOLERANCE)} |",
        ]
        if r.report.cost_saved is not None:
            cost_err = r.report.cost_saved / r.true_cost_saved - 1.0
            lines.append(
                f"| cost saved, CNY | {r.report.cost_saved:,.0f} | {r.true_cost_saved:,.0f} | "
                f"{cost_err:+.2%} | — | — |"
            )
    else:
        lines.append("The report was refused: " + "; ".join(s.reasons))
    for label, check in (
        ("leak, before (no-demand windows)", r.leak_timed),
        ("leak, before (pressure decay)", r.leak_decay),
        ("leak, after (no-demand windows)", r.leak_after),
    ):
        lines.append(
            f"| {label}, m³/min | {check.estimate.flow_m3_min:.2f} | {check.true_m3_min:.2f} | "
            f"{check.error:+.2%} | ±{LEAK_TOLERANCE:.0%} | {_ok(abs(check.error) <= LEAK_TOLERANCE)} |"
        )
    lines += ["", f"Three simulated years and the report took {took_s:.0f} s."]
    return "\n".join(lines)


def _seeds() -> str:
    lines = [
        "### Other seeds, 8-week periods",
        "",
        "| seed | CV(RMSE) % | reported kWh | true kWh | savings error | leak errors (timed, decay, after) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    worst_s = worst_l = 0.0
    for seed in (1, 2, 3, 4):
        r = run_scenario(ScenarioSpec(seed=seed, days=56))
        s = r.report.savings
        leaks = [r.leak_timed.error, r.leak_decay.error, r.leak_after.error]
        worst_l = max(worst_l, *(abs(e) for e in leaks))
        if s.avoided_kwh is None:
            lines.append(
                f"| {seed} | {r.model.cvrmse_pct:.1f} | refused | {r.true_avoided_kwh:,.0f} | — | — |"
            )
            worst_s = float("inf")
            continue
        err = r.savings_error or 0.0
        worst_s = max(worst_s, abs(err))
        lines.append(
            f"| {seed} | {r.model.cvrmse_pct:.1f} | {s.avoided_kwh:,.0f} | {r.true_avoided_kwh:,.0f} | "
            f"{err:+.2%} | {', '.join(f'{e:+.2%}' for e in leaks)} |"
        )
    lines += [
        "",
        f"Worst savings error {worst_s:.2%} ({_ok(worst_s <= SAVINGS_TOLERANCE)} at ±5 %), "
        f"worst leak error {worst_l:.2%} ({_ok(worst_l <= LEAK_TOLERANCE)} at ±10 %).",
    ]
    return "\n".join(lines)


def _speed(r: ScenarioResult, load: float) -> str:
    years = r.spec.days / 365.0
    per = {k: v / years for k, v in r.seconds.items() if k in ("before", "after", "counterfactual")}
    cpu = r.seconds.get("cpu_simulation", float("nan")) / years / 3.0
    return "\n".join(
        [
            "### Speed",
            "",
            "Event-driven exact solution (no fixed time step): wall-clock seconds per simulated year — "
            + ", ".join(f"{k} {v:.1f} s" for k, v in per.items())
            + f" (CPU time {cpu:.1f} s per station-year on average)"
            + "; the analytics (baseline, savings, tariff cost, leaks) "
            + f"{r.seconds.get('analytics', 0):.2f} s. "
            f"The 'before' and counterfactual stations cycle fixed-speed units (more events); the sequenced "
            f"station mostly trims with the VSD. Load average at the start: {load:.1f} on "
            f"{os.cpu_count()} CPUs (shared machine: the figures are upper bounds).",
        ]
    )


if __name__ == "__main__":
    print(run(ROOT.parent / "shared" / "datasets"))
