"""NotificationService with the memory unit of work and scripted channels: retries, dead letters, restart."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson
import pytest
from tests.polling import wait_for

from openiiot.connectivity.notify.mqtt import MqttChannel
from openiiot.domain.errors import DeliveryFailed
from openiiot.domain.model import Tenant
from openiiot.domain.notification_deliveries import AttemptOutcome, DeliveryStatus
from openiiot.domain.notifications import AlarmEvent, NotificationMessage, NotificationRule
from openiiot.services.clock import SystemClock
from openiiot.services.notifications import NotificationService
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory


class ScriptedChannel:
    """A webhook-kind channel that fails as scripted, then succeeds; records what it sent."""

    kind = "webhook"

    def __init__(self, failures: list[DeliveryFailed | Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.sent: list[NotificationMessage] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()  # set once a send has begun

    def send(self, message: NotificationMessage, target: Mapping[str, Any]) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


def alarm(alarm_id: str = "a1", tenant_id: str = "t1") -> AlarmEvent:
    return AlarmEvent(
        tenant_id=tenant_id,
        site_id=None,
        alarm_id=alarm_id,
        alarm_type="HighPressure",
        severity="critical",
        transition="raised",
        originator_id="dev-1",
        originator_name="compressor-1",
        ts_ms=1_700_000_000_000,
    )


@pytest.fixture
def store() -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    with factory() as uow:
        uow.tenants.add(Tenant(id="t1", name="Acme"))
        uow.tenants.add(Tenant(id="t2", name="Other"))
        uow.notifications.add_rule(
            NotificationRule(
                id="r1",
                tenant_id="t1",
                name="ops",
                channel="webhook",
                target={"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"},
            )
        )
        uow.commit()
    return factory


@pytest.fixture
def make_service(store: MemoryUnitOfWorkFactory) -> Iterator[Callable[..., NotificationService]]:
    made: list[NotificationService] = []

    def make(channel: ScriptedChannel, **kwargs: Any) -> NotificationService:
        kwargs.setdefault("backoff_base_s", 0.001)
        service = NotificationService(store, {"webhook": channel}, SystemClock(), **kwargs)
        service.start()
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()


def attempts(store: MemoryUnitOfWorkFactory, tenant_id: str = "t1") -> list[Any]:
    with store() as uow:
        return sorted(uow.notifications.list_attempts(tenant_id), key=lambda a: a.attempt)


def deliveries(store: MemoryUnitOfWorkFactory, status: DeliveryStatus) -> list[Any]:
    with store() as uow:
        return uow.notifications.list_deliveries(None, status=status)


def test_retryable_failures_are_retried_until_delivered(
    store: MemoryUnitOfWorkFactory, make_service: Any
) -> None:
    channel = ScriptedChannel([DeliveryFailed("503", retryable=True, status_code=503), RuntimeError("bug")])
    service = make_service(channel)
    assert service.notify(alarm())
    wait_for(lambda: channel.sent, 10, "the channel to send")
    wait_for(lambda: deliveries(store, DeliveryStatus.PENDING) == [], 10, "no delivery pending")
    recorded = attempts(store)
    assert [a.outcome for a in recorded] == [
        AttemptOutcome.RETRY,
        AttemptOutcome.RETRY,
        AttemptOutcome.DELIVERED,
    ]
    assert recorded[0].status_code == 503 and "bug" in (recorded[1].error or "")
    assert channel.sent[0].delivery_id == recorded[0].delivery_id


def test_dead_letter_after_max_attempts(store: MemoryUnitOfWorkFactory, make_service: Any) -> None:
    channel = ScriptedChannel([DeliveryFailed("down", retryable=True)] * 10)
    service = make_service(channel, max_attempts=3)
    service.notify(alarm())
    wait_for(lambda: deliveries(store, DeliveryStatus.DEAD_LETTER), 10, "a dead letter")
    assert [a.outcome for a in attempts(store)] == [
        AttemptOutcome.RETRY,
        AttemptOutcome.RETRY,
        AttemptOutcome.DEAD_LETTER,
    ]
    assert deliveries(store, DeliveryStatus.DEAD_LETTER)[0].attempts == 3


def test_a_permanent_failure_is_not_retried(store: MemoryUnitOfWorkFactory, make_service: Any) -> None:
    service = make_service(ScriptedChannel([DeliveryFailed("400", retryable=False, status_code=400)]))
    service.notify(alarm())
    wait_for(lambda: deliveries(store, DeliveryStatus.DEAD_LETTER), 10, "a dead letter")
    assert [(a.attempt, a.outcome) for a in attempts(store)] == [(1, AttemptOutcome.DEAD_LETTER)]


def test_events_of_a_tenant_without_rules_send_nothing(
    store: MemoryUnitOfWorkFactory, make_service: Any
) -> None:
    channel = ScriptedChannel()
    service = make_service(channel)
    service.notify(alarm(tenant_id="t2"))
    service.notify(alarm(alarm_id="a2"))
    wait_for(lambda: channel.sent, 10, "the channel to send")
    wait_for(service.idle, 10, "the service to be idle")
    assert [m.event.alarm_id for m in channel.sent] == ["a2"]
    assert attempts(store, "t2") == []


def test_a_full_queue_drops_instead_of_blocking(store: MemoryUnitOfWorkFactory, make_service: Any) -> None:
    channel = ScriptedChannel()
    channel.release.clear()  # the workers hang in send: nothing drains the queue
    service = make_service(channel, queue_size=2, workers=1)
    service.notify(alarm("a0"))
    wait_for(channel.entered.is_set, 10, "the channel to be entered")
    started = time.monotonic()
    results = [service.notify(alarm(f"a{i}")) for i in range(1, 5)]
    assert time.monotonic() - started < 1.0
    assert results == [True, True, False, False]
    assert service.dropped_events == 2
    channel.release.set()


def test_pending_deliveries_survive_a_restart(store: MemoryUnitOfWorkFactory, make_service: Any) -> None:
    failing = ScriptedChannel([DeliveryFailed("down", retryable=True)] * 10)
    first = make_service(failing, backoff_base_s=3600.0)  # the retry would come in an hour
    first.notify(alarm())
    wait_for(lambda: attempts(store), 10, "an attempt recorded")
    first.stop()
    assert deliveries(store, DeliveryStatus.PENDING)[0].attempts == 1

    healthy = ScriptedChannel()
    with store() as uow:  # as if the hour had passed
        pending = uow.notifications.list_deliveries(None, status=DeliveryStatus.PENDING)[0]
        uow.notifications.save_delivery(dataclasses.replace(pending, next_attempt_ms=0))
        uow.commit()
    make_service(healthy)
    wait_for(lambda: healthy.sent, 10, "the healthy channel to send")
    assert [a.attempt for a in attempts(store)] == [1, 2]
    assert deliveries(store, DeliveryStatus.PENDING) == []


def test_events_queued_at_stop_are_kept_for_the_next_start(
    store: MemoryUnitOfWorkFactory, make_service: Any
) -> None:
    channel = ScriptedChannel()
    channel.release.clear()
    service = make_service(channel, workers=1)
    service.notify(alarm("a0"))
    wait_for(channel.entered.is_set, 10, "the channel to be entered")
    service.notify(alarm("a1"))  # waits in the queue behind the hanging send
    stopper = threading.Thread(target=service.stop)
    stopper.start()
    wait_for(lambda: not service.running, 10, "the service to stop")
    channel.release.set()
    stopper.join(10)
    stored = {d.event.alarm_id for d in deliveries(store, DeliveryStatus.PENDING)}
    assert "a1" in stored


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.published.append((topic, payload, qos, retain))


def test_the_mqtt_channel_publishes_under_the_platform_prefix() -> None:
    publisher = RecordingPublisher()
    message = NotificationMessage(delivery_id="d1", rule_id="r1", rule_name="ops", event=alarm())
    MqttChannel(publisher).send(message, {"topic_suffix": "scada/line-1"})
    topic, payload, qos, retain = publisher.published[0]
    assert (topic, qos, retain) == ("$platform/alarms/t1/scada/line-1", 1, False)
    assert orjson.loads(payload)["delivery_id"] == "d1"
