"""Readiness check: can the platform reach its metadata database and telemetry store?"""

from __future__ import annotations

import logging

from openiiot.services.ports import TelemetryStore, UnitOfWorkFactory

log = logging.getLogger(__name__)


class HealthService:
    """Probes the stores with the cheapest query each answers."""

    def __init__(self, uow: UnitOfWorkFactory, telemetry: TelemetryStore) -> None:
        self._uow = uow
        self._telemetry = telemetry

    def check(self) -> dict[str, bool]:
        """Reachability of each store; True means it answered."""
        return {"metadata": self._probe_metadata(), "telemetry": self._probe_telemetry()}

    def _probe_metadata(self) -> bool:
        try:
            with self._uow() as uow:
                uow.tenants.list(limit=1)
        except Exception:  # any failure means "unreachable"; the reason goes to the log, not the caller
            log.exception("metadata store unreachable")
            return False
        return True

    def _probe_telemetry(self) -> bool:
        try:
            self._telemetry.latest(["-health-"], None)
        except Exception:
            log.exception("telemetry store unreachable")
            return False
        return True
