"""Mounts the web console in the platform's FastAPI app under /console."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from openiiot.services.ports import Clock
from openiiot.web import (
    routes_alarms,
    routes_auth,
    routes_commands,
    routes_condition,
    routes_device,
    routes_energy,
    routes_fleet,
    routes_sharing,
    routes_workorders,
)
from openiiot.web.framework import CONSOLE_PREFIX, STATIC_DIR, ConsoleRoute, error_page

_fallback = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@_fallback.api_route("/{rest:path}", methods=["GET", "POST"])
async def not_found(request: Request, rest: str) -> Response:
    """Any other console address: a readable 404 page."""
    return error_page(request, 404, "page")


def install_console(app: FastAPI, clock: Clock | None = None) -> None:
    """Add the console's pages, its static files and a redirect from / to the console."""
    app.state.console_clock = clock
    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for module in (
        routes_auth,
        routes_fleet,
        routes_device,
        routes_alarms,
        routes_commands,
        routes_workorders,
        routes_sharing,
        routes_energy,
        routes_condition,
    ):
        app.include_router(module.router)
    app.include_router(_fallback)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)
