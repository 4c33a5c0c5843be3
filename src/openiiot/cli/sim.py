"""`openiiot sim`: run simulated plants that publish telemetry over MQTT."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console

from openiiot.domain.errors import OpenIIoTError, ValidationFailed
from openiiot.sim.fleet import read_devices_csv
from openiiot.sim.publisher import SimRunner

app = typer.Typer(help="Simulated compressor stations and robots publishing over MQTT.", no_args_is_help=True)
console = Console()


@app.callback()
def sim() -> None:
    """Simulated compressor stations and robots publishing over MQTT."""


@app.command()
def run(
    devices: Path = typer.Option(
        ...,
        "--devices",
        exists=True,
        dir_okay=False,
        help="CSV with columns device_id,access_token,model[,group]; model is compressor, flow_meter, "
        "pressure_sensor, robot_joint or robot_reducer (group = the robot, joints in axis order). List a "
        "station's compressors before its meters, or use group.",
    ),
    host: str = typer.Option("127.0.0.1", help="MQTT broker host."),
    port: int = typer.Option(1883, min=1, max=65535, help="MQTT broker port."),
    rate_hz: float = typer.Option(
        1.0, "--rate-hz", min=0.01, max=100.0, help="Messages per second per device."
    ),
    seed: int = typer.Option(0, help="Seed of the models: the same seed gives the same series."),
    duration_s: float = typer.Option(
        0.0, "--duration-s", min=0.0, help="Stop after this long; 0 = until Ctrl-C."
    ),
    wave_every_s: float = typer.Option(
        600.0, "--wave-every-s", min=1.0, help="Seconds between vibration waveform bursts of robot_reducer."
    ),
) -> None:
    """Publish simulated telemetry for every device of the CSV, each with its own credentials."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        runner = SimRunner(
            read_devices_csv(devices), host, port, rate_hz=rate_hz, seed=seed, wave_every_s=wave_every_s
        )
        runner.start()
    except OpenIIoTError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    stats = runner.stats
    console.print(f"{stats.connected}/{stats.devices} devices connected to {host}:{port}; Ctrl-C stops.")
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            wait_s = 10.0 if deadline is None else min(10.0, max(0.0, deadline - time.monotonic()))
            if runner.wait(wait_s):
                break  # every shard ended: nothing left to report
            stats = runner.stats
            console.print(
                f"tick {stats.ticks}: {stats.published} published, {stats.acked} acknowledged, "
                f"{stats.dropped} dropped, {stats.connected}/{stats.devices} connected"
            )
    except KeyboardInterrupt:
        console.print("stopping ...")
    except OpenIIoTError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        runner.stop()
    stats = runner.stats
    console.print(f"done: {stats.published} messages published, {stats.acked} acknowledged.")


@app.command()
def station(
    scenario: str = typer.Option(
        "",
        "--scenario",
        help="before-after: fast-forward a year under cascade control and a year after leak repair, a lower "
        "set-point and the central sequencer, then report the savings beside the simulator's truth.",
    ),
    out: Path = typer.Option(Path("station-scenario"), "--out", help="Folder for hourly.csv and report.md."),
    days: int = typer.Option(365, "--days", min=7, max=3660, help="Length of each scenario period."),
    tariff: Path | None = typer.Option(
        None, "--tariff", exists=True, dir_okay=False, help="TOU tariff TOML (default: the Zhejiang sample)."
    ),
    devices: Path | None = typer.Option(
        None,
        "--devices",
        exists=True,
        dir_okay=False,
        help="Without --scenario: run the station live over MQTT. CSV device_id,access_token,model with six "
        "compressor rows (C1-C5, V1) and one station_header row.",
    ),
    host: str = typer.Option("127.0.0.1", help="MQTT broker host (live run)."),
    port: int = typer.Option(1883, min=1, max=65535, help="MQTT broker port (live run)."),
    rate_hz: float = typer.Option(
        1.0, "--rate-hz", min=0.01, max=100.0, help="Messages per second per device."
    ),
    mode: str = typer.Option("cascade", "--mode", help="Live run: cascade or sequencer control."),
    seed: int = typer.Option(2026, help="Seed: the same seed gives the same station and plant."),
    duration_s: float = typer.Option(0.0, "--duration-s", min=0.0, help="Live run: stop after this long."),
) -> None:
    """The energy station: the before-after scenario, or the station live over MQTT."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if scenario:
        _run_scenario(scenario, out, days, tariff, seed)
        return
    if devices is None:
        console.print("[bold red]error:[/] give --scenario before-after, or --devices CSV for a live station")
        raise typer.Exit(2)
    _run_live(devices, host, port, rate_hz, mode, seed, duration_s)


def _run_scenario(name: str, out: Path, days: int, tariff: Path | None, seed: int) -> None:
    from openiiot.sim.station_scenario import ScenarioSpec, run_scenario, write_outputs

    if name != "before-after":
        console.print(f"[bold red]error:[/] unknown scenario {name!r}; the scenario is before-after")
        raise typer.Exit(2)
    console.print(f"Simulating {days} days before and {days} days after (and the counterfactual truth) ...")
    started = time.perf_counter()
    try:
        result = run_scenario(ScenarioSpec(seed=seed, days=days, tariff_path=tariff))
    except OpenIIoTError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    paths = write_outputs(result, out)
    took = time.perf_counter() - started
    console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    console.print(f"\nwrote {', '.join(str(p) for p in paths)} in {took:.1f} s ({timing})")


def _run_live(
    devices: Path, host: str, port: int, rate_hz: float, mode: str, seed: int, duration_s: float
) -> None:
    from dataclasses import replace

    from openiiot.sim.air_station import ControlMode, default_station
    from openiiot.sim.station_devices import AirStationGroup

    try:
        config = replace(default_station(), mode=ControlMode(mode))
    except ValueError as exc:
        console.print("[bold red]error:[/] --mode must be cascade or sequencer")
        raise typer.Exit(2) from exc
    try:
        listed = read_devices_csv(devices)
        start_ms = int(time.time() * 1000)
        group = AirStationGroup(listed, seed, start_ms, config)
        runner = SimRunner(
            listed, host, port, rate_hz=rate_hz, seed=seed, start_ts_ms=start_ms, groups=[group]
        )
        runner.start()
    except (OpenIIoTError, ValidationFailed) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"energy station: {runner.stats.connected}/{len(listed)} devices connected; Ctrl-C stops.")
    deadline = time.monotonic() + duration_s if duration_s > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            wait_s = 10.0 if deadline is None else min(10.0, max(0.0, deadline - time.monotonic()))
            if runner.wait(wait_s):
                break
            header = group.station.header_telemetry()
            console.print(
                f"{header['pressure_bar']:.2f} bar, {header['flow_m3_min']:.1f} m³/min, "
                f"{header['power_kw']:.0f} kW ({group.station.mode.value})"
            )
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        runner.stop()
    console.print(f"done: {runner.stats.published} messages published.")
