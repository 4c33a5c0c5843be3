"""`openiiot broker sync`: make the external broker's device accounts match the device table."""

from __future__ import annotations

import typer
from rich.console import Console

from openiiot.connectivity.mqtt.dynsec import DynsecAccounts, parse_broker_url
from openiiot.domain.errors import ConfigurationError
from openiiot.settings import load_settings
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

app = typer.Typer(help="Manage the external MQTT broker (Mosquitto dynamic security, OPENIIOT_MQTT_URL).")
console = Console()
_PAGE = 1000


def device_states(database_url: str) -> dict[str, bool]:
    """Every device id with its disabled flag, across all tenants."""
    engine = create_metadata_engine(database_url)
    try:
        uow_factory = SqlUnitOfWorkFactory(engine)
        states: dict[str, bool] = {}
        with uow_factory() as uow:
            while True:
                page = uow.devices.list(None, offset=len(states), limit=_PAGE)
                states.update((d.id, d.disabled) for d in page)
                if len(page) < _PAGE:
                    return states
    finally:
        engine.dispose()


@app.command()
def sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="Report the drift without changing anything"),
    force: bool = typer.Option(
        False, "--force", help="Proceed even when the device table is empty (deletes every device client)"
    ),
) -> None:
    """Repair roles, ACLs, role membership and disabled state; delete stray device clients.

    Device passwords cannot be restored (only token digests are stored): devices without a broker
    client are listed, and their tokens must be rotated.
    """
    settings = load_settings()
    if not settings.mqtt_url:
        console.print("[bold red]error:[/] OPENIIOT_MQTT_URL is not set; the embedded broker needs no sync")
        raise typer.Exit(2)
    if settings.mqtt_auth != "dynsec":
        console.print(
            "[bold red]error:[/] OPENIIOT_MQTT_AUTH is not dynsec; the broker keeps no device accounts"
        )
        raise typer.Exit(2)
    if settings.database_url is None and not settings.sqlite_path.exists():
        console.print(
            f"[bold red]error:[/] no metadata database at {settings.sqlite_path}; "
            "set OPENIIOT_DATA_DIR or OPENIIOT_DATABASE_URL as for the platform"
        )
        raise typer.Exit(2)
    database_url = settings.database_url or sqlite_url(settings.sqlite_path)
    try:
        states = device_states(database_url)
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        console.print(f"[bold red]error:[/] cannot read the devices: {reason}; check OPENIIOT_DATABASE_URL")
        raise typer.Exit(2) from exc
    try:
        accounts = DynsecAccounts(parse_broker_url(settings.mqtt_url))
        accounts.client.connect()
    except ConfigurationError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    try:
        if not states and not force and not dry_run:
            # a wrong database setting must not wipe every device account
            console.print(
                "[bold red]error:[/] the device table is empty, so every device client would be deleted; "
                "check OPENIIOT_DATABASE_URL / OPENIIOT_DATA_DIR, or pass --force"
            )
            raise typer.Exit(2)
        report = accounts.sync(states.items(), dry_run=dry_run)
    finally:
        accounts.stop()
    verb = "would be" if dry_run else "were"
    console.print(f"Checked {report.checked} devices against {accounts.url.address}.")
    if report.service_role_fixed:
        console.print("The platform's service role was repaired.")
    for line in report.repaired:
        console.print(f"repaired: {line}")
    for line in report.deleted:
        console.print(f"deleted: {line}")
    if not report.repaired and not report.deleted:
        console.print("No drift found.")
    else:
        console.print(f"{len(report.repaired)} repairs and {len(report.deleted)} deletions {verb} made.")
    if report.missing_password:
        console.print(
            f"[bold yellow]{len(report.missing_password)} devices have no broker client[/]; their password "
            "cannot be restored because the platform stores only token digests. Rotate their tokens "
            "(POST /api/v1/devices/{id}/credentials/rotate) and give the devices the new tokens:"
        )
        for device_id in report.missing_password:
            console.print(f"  rotate: {device_id}")
        raise typer.Exit(1)
