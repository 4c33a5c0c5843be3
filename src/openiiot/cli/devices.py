"""`openiiot devices ...`: device administration through the platform's REST API."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from openiiot.settings import load_settings

app = typer.Typer(help="Provision and manage devices (talks to a running platform's REST API).")
console = Console()


def _login(client: httpx.Client, username: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    if response.status_code != 200:
        console.print(f"[bold red]login failed:[/] {response.json().get('detail', response.text)}")
        raise typer.Exit(1)
    return str(response.json()["access_token"])


@app.command()
def provision(
    csv_file: Path = typer.Option(
        ..., "--csv", exists=True, readable=True, help="CSV: name,profile[,label,asset,gateway]"
    ),
    tenant_id: str | None = typer.Option(None, help="Tenant to create the devices in (platform admins)"),
    out: Path | None = typer.Option(None, help="Write device_id,name,access_token of created devices here"),
    url: str | None = typer.Option(None, help="Platform URL; default from OPENIIOT_HTTP_HOST/PORT"),
    username: str = typer.Option("admin", help="User to sign in as"),
    password: str | None = typer.Option(None, envvar="OPENIIOT_CLI_PASSWORD", help="Password (or env)"),
) -> None:
    """Bulk-provision devices from a CSV file and print a per-row report."""
    settings = load_settings()
    base = url or f"http://{settings.http_host}:{settings.http_port}"
    secret = password or typer.prompt("Password", hide_input=True)
    with httpx.Client(base_url=base, timeout=60) as client:
        try:
            token = _login(client, username, secret)
        except httpx.HTTPError as exc:
            console.print(f"[bold red]cannot reach the platform at {base}:[/] {exc}")
            raise typer.Exit(1) from exc
        response = client.post(
            "/api/v1/devices/bulk",
            headers={"Authorization": f"Bearer {token}"},
            params={"tenant_id": tenant_id} if tenant_id else None,
            files={"file": (csv_file.name, csv_file.read_bytes(), "text/csv")},
        )
    if response.status_code != 200:
        body = response.json()
        console.print(f"[bold red]refused ({response.status_code}):[/] {body.get('detail', '')}")
        for err in body.get("errors", []):
            console.print(f"  {err.get('field')}: {err.get('reason')}")
        raise typer.Exit(1)
    report = response.json()
    _print_report(report)
    if out is not None and report["created"]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["device_id", "name", "access_token"])
        for row in report["created"]:
            writer.writerow([row["device_id"], row["name"], row["access_token"]])
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(buffer.getvalue())
        console.print(f"Access tokens written to {out} (shown once; keep it safe).")
    if report["errors"]:
        raise typer.Exit(1)


def _print_report(report: dict[str, list[dict[str, object]]]) -> None:
    created = Table(title=f"Created: {len(report['created'])}")
    for column in ("row", "name", "device_id", "access_token"):
        created.add_column(column)
    for row in report["created"]:
        created.add_row(*(str(row[c]) for c in ("row", "name", "device_id", "access_token")))
    console.print(created)
    if report["errors"]:
        errors = Table(title=f"Rejected rows: {len(report['errors'])}", style="red")
        for column in ("row", "field", "reason"):
            errors.add_column(column)
        for row in report["errors"]:
            errors.add_row(*(str(row[c]) for c in ("row", "field", "reason")))
        console.print(errors)
