"""`openiiot sim station --scenario before-after` from the command line: files and the savings story."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from openiiot.cli.app import app


def test_the_scenario_command_writes_the_hourly_data_and_prints_the_report(tmp_path: Path) -> None:
    out = tmp_path / "scen"
    result = CliRunner().invoke(
        app, ["sim", "station", "--scenario", "before-after", "--days", "7", "--out", str(out), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "hourly.csv").stat().st_size > 0
    assert "kWh a year" in (out / "report.md").read_text(encoding="utf-8")
    assert "True avoided energy" in result.output and "wrote" in result.output


def test_an_unknown_scenario_or_nothing_to_run_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["sim", "station", "--scenario", "after-before", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "before-after" in bad.output
    nothing = runner.invoke(app, ["sim", "station"])
    assert nothing.exit_code == 2 and "--devices" in nothing.output
