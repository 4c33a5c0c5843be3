"""`openiiot sim`: run simulated plants that publish telemetry over MQTT."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console

from openiiot.domain.errors import OpenIIoTError
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
