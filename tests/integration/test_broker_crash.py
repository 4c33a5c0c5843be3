"""Production mode: Mosquitto killed with SIGKILL mid-ingest — what the platform guarantees, what is lost.

A crash saves nothing: Mosquitto starts again from its last save of `mosquitto.db` (at its last clean stop,
and every `autosave_interval` seconds, default 1800; or every `autosave_interval` changes with
`autosave_on_changes true`). What it accepted since — QoS 1 messages it acknowledged to devices but had not
yet handed to the worker, sessions and subscriptions made since — is gone. A broker that never saved since
the worker subscribed has lost the worker's session too: device messages that arrive before the worker
has subscribed again are dropped although the devices get their PUBACKs.

One ingest worker on a plain subscription (the one-worker setup of deploy.md) ingests from four devices
with persistent sessions; the broker is killed three times, each time under another persistence setting
(the first on a broker that has never saved), while the worker lags LAG_S behind (stopped with SIGSTOP, so
messages queue for it at the broker). Devices reconnect on their own within 0.1-0.5 s, before the worker.
Asserted for every setting:

- nothing stored twice or changed, nothing stored that was not sent (a redelivery is written once);
- the worker reconnects on its own and resumes: every message published after it subscribed again is
  stored; the platform's dynamic-security connection too: a device created after the crashes logs in;
- when the broker restarts from a save holding the worker's subscription (`autosave_interval 1`, or a save
  on every change), only messages the killed broker had acknowledged can be lost: devices re-send what it
  had not acknowledged, and what they publish before the worker is back queues in its restored session.

Each crash's loss is logged (`-o log_cli=true --log-cli-level=INFO`); deploy-broker.md records it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.integration.ingest_fleet_fixtures import (  # noqa: F401 - the fixtures
    DEVICES,
    KEYS,
    PLAIN_TOPIC,
    RATE_HZ,
    Fleet,
    Worker,
    api,
    broker,
    database,
    stored_count,
    subscribed,
    use_setting,
)
from tests.integration.mosquitto_fixtures import (
    Mosquitto,
    kill_mosquitto,
    restart_mosquitto,
    stop_mosquitto,
)
from tests.polling import wait_for

from openiiot.bootstrap import Platform

pytestmark = [pytest.mark.integration, pytest.mark.services]
log = logging.getLogger(__name__)
LAG_S = 1.5  # how far the worker is behind when the broker dies
DOWN_S = 1.0  # the broker stays dead this long: the worker's reconnect delay grows past the devices'


@dataclass
class Crash:
    """One kill of the broker under one persistence setting, and what the devices saw around it."""

    setting: str
    conf: str
    restores_sessions: bool  # whether the broker restarts from a save holding the worker's subscription
    first: dict[str, int] = field(default_factory=dict)  # per device: the first message of this round
    acked_by_killed: dict[str, set[int]] = field(default_factory=dict)  # acknowledged by the killed broker
    resubscribed_at: dict[str, int] = field(default_factory=dict)  # per device: sent when the worker was back


def acked(fleet: Fleet) -> dict[str, set[int]]:
    """Per device, the numbers of its messages a broker has acknowledged so far."""
    return {d.device_id: d.acked_numbers() for d in fleet.devices}


def offline(fleet: Fleet) -> bool:
    return not any(d.client.is_connected() for d in fleet.devices)


def test_a_killed_broker_loses_at_most_what_it_had_acknowledged_and_never_doubles_a_point(
    tmp_path: Path,
    database: str,  # noqa: F811 - the fixture
    broker: Mosquitto,  # noqa: F811 - the fixture
    api: Platform,  # noqa: F811 - the fixture
) -> None:
    crashes = [
        Crash("default (never saved)", "", restores_sessions=False),
        Crash("autosave_interval 1", "autosave_interval 1", restores_sessions=True),
        Crash("autosave on every change", "autosave_on_changes true\nautosave_interval 1", True),
    ]
    worker = Worker(tmp_path, database, broker, "solo", OPENIIOT_MQTT_SHARED_SUBSCRIPTION="false")
    fleet = Fleet(api, broker)  # devices reconnect on their own within 0.1-0.5 s
    acked_before_start: dict[str, set[int]] = {d.device_id: set() for d in fleet.devices}
    try:
        worker.wait_running()
        fleet.start()
        for crash in crashes:
            crash.first = {d.device_id: d.sent for d in fleet.devices}
            if crash.conf:  # a clean restart into the setting: its save keeps the worker's subscription
                use_setting(broker, crash.conf)
                stop_mosquitto(broker)
                wait_for(lambda: offline(fleet), 10, "devices to notice the stop")
                acked_before_start = acked(fleet)
                restart_mosquitto(broker)
            ingesting(database, broker)
            worker.pause()
            time.sleep(LAG_S)
            kill_mosquitto(broker)
            wait_for(lambda: offline(fleet), 10, "devices to notice the crash")
            now_acked = acked(fleet)
            crash.acked_by_killed = {d: now_acked[d] - acked_before_start[d] for d in now_acked}
            acked_before_start = now_acked
            time.sleep(DOWN_S)
            restart_mosquitto(broker)
            worker.resume()
            crash.resubscribed_at = ingesting(database, broker, fleet)
        # provisioning works again after the crash: a device created now gets a broker account and logs in
        newcomer = fleet.new_device("after the crash")
        try:
            wait_for(newcomer.client.is_connected, 10, "the device created after the crash to log in")
        finally:
            newcomer.close()
        fleet.stop_publishing()
        stored = fleet.settle(database, quiet_s=3.0)

        assert stored_count(database) == sum(len(points) for points in stored.values())  # none doubled
        for d in fleet.devices:
            assert stored.get(d.device_id, set()) <= d.expected()  # none changed, none extra
        ends = [crash.first for crash in crashes[1:]] + [{d.device_id: d.sent for d in fleet.devices}]
        for crash, end in zip(crashes, ends, strict=True):
            check_crash(crash, end, fleet, stored)
        assert worker.output().count("mqtt consumer disconnected; reconnecting") >= len(crashes)
    finally:
        fleet.close()
        worker.stop()


def ingesting(db_url: str, mosquitto: Mosquitto, fleet: Fleet | None = None) -> dict[str, int]:
    """Wait until the worker has subscribed since the broker's start and a second of points came in.

    Returns, per device of `fleet`, how many messages it had sent when the subscription was seen.
    """
    wait_for(lambda: subscribed(mosquitto, "solo", PLAIN_TOPIC), 60, "the worker to subscribe")
    sent_then = {d.device_id: d.sent for d in fleet.devices} if fleet else {}
    before = stored_count(db_url)
    wait_for(lambda: stored_count(db_url) > before + DEVICES * KEYS * RATE_HZ, 60, "points to be stored")
    return sent_then


def check_crash(
    crash: Crash, end: dict[str, int], fleet: Fleet, stored: dict[str, set[tuple[str, int, float]]]
) -> None:
    """What one crash lost, logged, and held to what the platform guarantees."""
    lost_acked = lost_other = 0  # messages lost that the killed broker had acknowledged, and others
    for d in fleet.devices:
        sent = d.points(range(crash.first[d.device_id], end[d.device_id]))
        lost = sent - stored.get(d.device_id, set())
        acked_then = d.points(crash.acked_by_killed[d.device_id])
        lost_acked += len(lost & acked_then) // KEYS
        lost_other += len(lost - acked_then) // KEYS
        after = d.points(range(crash.resubscribed_at[d.device_id], end[d.device_id]))
        assert not lost & after, f"{crash.setting}: lost a message published after the worker was back"
        if crash.restores_sessions:
            assert lost <= acked_then, (
                f"{crash.setting}: lost a message the killed broker had not acknowledged"
            )
    log.info(
        "broker killed, %s: of %d messages in the round, %d lost that the killed broker had acknowledged "
        "(of %d it acknowledged), %d lost that it had not",
        crash.setting,
        sum(end[d] - crash.first[d] for d in end),
        lost_acked,
        sum(len(numbers) for numbers in crash.acked_by_killed.values()),
        lost_other,
    )
