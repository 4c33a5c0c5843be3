"""The FastAPI application factory: management API under /api/v1, health, metrics, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from openiiot import __version__
from openiiot.api.errors import install_error_handlers
from openiiot.api.routes import (
    alarm_rules,
    alarms,
    api_keys,
    assets,
    attributes,
    audit,
    auth,
    commands,
    connectivity,
    device_profiles,
    devices,
    grants,
    health,
    notifications,
    sites,
    telemetry,
    tenants,
    users,
    workorders,
)
from openiiot.services.management import Services
from openiiot.web.console import install_console

API_PREFIX = "/api/v1"


class PlatformParts(Protocol):
    """What the app needs from the composition root (bootstrap.Platform has these and more)."""

    @property
    def services(self) -> Services: ...
    @property
    def extra_routers(self) -> Sequence[APIRouter]: ...
    @property
    def registry(self) -> CollectorRegistry: ...


def create_app(platform: PlatformParts) -> FastAPI:
    """Build the HTTP application over already-wired services; reads nothing from the environment."""
    app = FastAPI(
        title="OpenIIoT",
        version=__version__,
        description="Management API of the OpenIIoT industrial internet platform.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.services = platform.services
    app.state.registry = platform.registry
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX)
    for module in (
        auth,
        api_keys,
        tenants,
        users,
        sites,
        assets,
        device_profiles,
        devices,
        attributes,
        telemetry,
        alarm_rules,
        alarms,
        audit,
        notifications,
        connectivity,
        commands,
        workorders,
        grants,
    ):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    for router in platform.extra_routers:
        app.include_router(router)
    install_console(app, getattr(platform, "clock", None))
    return app
