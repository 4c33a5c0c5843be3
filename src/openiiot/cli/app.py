"""The `openiiot` command line: serve, demo, devices, sim."""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Callable

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console

from openiiot.api.app import create_app
from openiiot.bootstrap import Platform, build_platform, check_port_free
from openiiot.cli.broker import app as broker_app
from openiiot.cli.devices import app as devices_app
from openiiot.cli.sim import app as sim_app
from openiiot.domain.errors import ConfigurationError
from openiiot.settings import Settings, load_settings

app = typer.Typer(help="OpenIIoT — open-source industrial internet platform.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(sim_app, name="sim")
app.add_typer(broker_app, name="broker")
console = Console()


def settings_or_exit() -> Settings:
    """The settings from the environment; a wrong value stops with one line per variable, exit status 2."""
    try:
        return load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "OPENIIOT_" + "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"[bold red]error:[/] {name}={error.get('input')!r}: {error['msg']}")
        raise typer.Exit(2) from exc


def configure_logging(settings: Settings) -> None:
    """Plain structured-enough logging to stderr."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def ensure_admin(platform: Platform, password: str | None) -> str | None:
    """Create the platform admin `admin` on first start; return the password when it was generated here."""
    chosen = password or secrets.token_urlsafe(12)
    created = platform.services.auth.ensure_admin("admin", chosen)
    return chosen if created and password is None else None


def run_platform(
    settings: Settings, before_serve: Callable[[Platform], Callable[[], None] | None], role: str = "all"
) -> None:
    """Build and start the platform, run `before_serve`, serve HTTP until Ctrl-C, then stop cleanly."""
    configure_logging(settings)
    try:
        check_port_free(settings.http_host, settings.http_port, "HTTP")
        platform = build_platform(settings)
    except ConfigurationError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    try:
        platform.start(role)
    except ConfigurationError as exc:
        platform.stop()
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    after = None
    try:
        after = before_serve(platform)
        uvicorn.run(
            create_app(platform),
            host=settings.http_host,
            port=settings.http_port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
    finally:
        if after is not None:
            after()
        platform.stop()
        console.print("OpenIIoT stopped.")


@app.command()
def serve(
    role: str = typer.Option(
        "all",
        help="all | api | ingest | scheduler. Production mode runs several processes, each with a role "
        "(docs/deploy.md); embedded mode is one process, role all.",
    ),
) -> None:
    """Run the platform: embedded broker, ingest and the HTTP API (or one role of production mode)."""
    settings = settings_or_exit()
    if role in ("ingest", "scheduler"):
        run_headless(settings, role)
        return

    def announce(platform: Platform) -> None:
        generated = ensure_admin(platform, settings.admin_password)
        base = f"http://{settings.http_host}:{settings.http_port}"
        mqtt_at = (
            f"{platform.broker_accounts.url.address} (external)"
            if platform.broker_accounts is not None
            else f"{settings.mqtt_host}:{settings.mqtt_port}"
            if settings.mqtt_url is None
            else "external broker (OPENIIOT_MQTT_URL)"
        )
        console.print(f"OpenIIoT API: {base}/docs   MQTT: {mqtt_at}")
        if generated:
            console.print(f"Created platform admin: user [bold]admin[/], password [bold]{generated}[/]")

    run_platform(settings, lambda p: announce(p), role=role)


def run_headless(settings: Settings, role: str) -> None:
    """A process without HTTP (ingest worker or scheduler): start, wait for SIGINT/SIGTERM, stop cleanly."""
    configure_logging(settings)
    try:
        platform = build_platform(settings)
    except ConfigurationError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        platform.start(role)
    except ConfigurationError as exc:
        platform.stop()
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"OpenIIoT {role} worker {settings.worker_name} running; Ctrl-C stops it.")
    try:
        stop.wait()
    finally:
        platform.stop()
        console.print("OpenIIoT stopped.")


@app.command()
def demo() -> None:
    """Run the platform with a demo enterprise and simulated devices publishing over MQTT."""
    from openiiot.cli.demo import start_demo

    settings = settings_or_exit()
    if settings.mqtt_url is not None and settings.mqtt_url.startswith("mqtts://"):
        # the simulated devices connect without TLS
        console.print(
            "[bold red]error:[/] the demo's simulated devices speak plain MQTT; point OPENIIOT_MQTT_URL at "
            "a mqtt:// listener of the broker for the demo"
        )
        raise typer.Exit(2)
    run_platform(settings, lambda p: start_demo(p, settings, console))


def main() -> None:
    """Entry point of the `openiiot` script."""
    app()


if __name__ == "__main__":
    main()
