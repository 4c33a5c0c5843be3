"""Connectivity events past OPENIIOT_CONNECTIVITY_EVENT_RETENTION_DAYS are deleted by the platform's own
retention job (which runs at start, then hourly); younger ones stay queryable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from openiiot.bootstrap import build_platform
from openiiot.domain.connectivity import ConnectivityEvent, ConnectivityEventKind
from openiiot.settings import load_settings
from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def test_the_platform_deletes_connectivity_events_older_than_the_setting(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        http_port=free_tcp_port(),
        mqtt_port=free_tcp_port(),
        connectivity_event_retention_days=30,
    )
    platform = build_platform(settings)
    now_ms = platform.clock.now_ms()
    with platform.uow() as uow:
        uow.connectivity.add_events(
            [
                ConnectivityEvent(
                    f"e-{age}", "t-1", "d-1", now_ms - age * DAY_MS, ConnectivityEventKind.ACTIVE
                )
                for age in (1, 29, 31, 365)
            ]
        )
        uow.commit()

    def kept() -> list[str]:
        with platform.uow() as uow:
            return sorted(e.id for e in uow.connectivity.list_events("d-1"))

    platform.start()
    try:
        deadline = time.monotonic() + 15
        while kept() != ["e-1", "e-29"]:
            assert time.monotonic() < deadline, f"old events were not deleted: {kept()}"
            time.sleep(0.1)
    finally:
        platform.stop()
