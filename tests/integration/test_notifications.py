"""Notifications end to end: a real HTTP receiver, a real SMTP server, the embedded MQTT broker, SQLite."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from mqtt_fixtures import (
    SERVICE_PASSWORD,
    SERVICE_USER,
    BrokerHandle,
    Client,
    clients,
    free_port,
    mqtt_broker,
)
from tests.integration.stack_fixtures import EMBEDDED, Stack
from tests.polling import wait_for

from openiiot.connectivity.mqtt.publisher import MqttPlatformPublisher
from openiiot.connectivity.notify.mqtt import EMBEDDED_ALARM_TOPIC_PREFIX, MqttChannel
from openiiot.connectivity.notify.smtp import SmtpChannel
from openiiot.connectivity.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, verify
from openiiot.domain.model import Tenant
from openiiot.domain.notification_deliveries import AttemptOutcome, DeliveryStatus
from openiiot.domain.notifications import AlarmEvent, NotificationRule, QuietHours
from openiiot.services.clock import SystemClock
from openiiot.services.notifications import NotificationService
from openiiot.services.ports import NotificationChannel
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

pytestmark = pytest.mark.integration
__all__ = ["clients", "mqtt_broker"]  # fixtures used by name

SECRET = "webhook-secret-for-tests"


class Receiver:
    """A webhook endpoint answering the scripted status codes in turn (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests.append((headers, body))
            return self.statuses[min(len(self.requests), len(self.statuses)) - 1]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A real HTTP server on a free port; tests set `statuses` before events flow."""
    state = Receiver([200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def store(stack: Stack) -> Iterator[SqlUnitOfWorkFactory]:
    """A migrated metadata database of the stack under test (SQLite or PostgreSQL) with tenant t1."""
    engine = create_metadata_engine(stack.metadata_url())
    upgrade_to_head(engine)
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as uow:
        uow.tenants.add(Tenant(id="t1", name="Acme", timezone="Asia/Shanghai"))
        uow.commit()
    yield factory
    engine.dispose()


@pytest.fixture
def run_service(store: SqlUnitOfWorkFactory) -> Iterator[Callable[..., NotificationService]]:
    """Starts a NotificationService with tiny backoff; stopped at the end of the test."""
    made: list[NotificationService] = []

    def run(
        channels: dict[str, NotificationChannel], rule: dict[str, Any], **kwargs: Any
    ) -> NotificationService:
        with store() as uow:
            uow.notifications.add_rule(NotificationRule(id="r1", tenant_id="t1", name="ops", **rule))
            uow.commit()
        kwargs.setdefault("backoff_base_s", 0.005)
        service = NotificationService(store, channels, SystemClock(), **kwargs)
        service.start()
        made.append(service)
        return service

    yield run
    for service in made:
        service.stop()


def alarm(severity: str = "critical") -> AlarmEvent:
    return AlarmEvent(
        tenant_id="t1",
        site_id="site-1",
        alarm_id="alarm-1",
        alarm_type="HighPressure",
        severity=severity,
        transition="raised",
        originator_id="dev-1",
        originator_name="compressor-1",
        ts_ms=1_767_225_600_000,
        details={"pressure_bar": 9.6, "threshold_bar": 9.0},
    )


def attempts(store: SqlUnitOfWorkFactory) -> list[Any]:
    with store() as uow:
        return sorted(uow.notifications.list_attempts("t1"), key=lambda a: a.attempt)


def dead_letters(store: SqlUnitOfWorkFactory) -> list[Any]:
    with store() as uow:
        return uow.notifications.list_deliveries("t1", status=DeliveryStatus.DEAD_LETTER)


def webhook_rule(url: str) -> dict[str, Any]:
    return {"channel": "webhook", "target": {"url": url, "secret": SECRET}}


def test_the_webhook_is_signed_with_the_rule_secret(
    receiver: tuple[Receiver, str], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    state, url = receiver
    channel = WebhookChannel(timeout_s=5)
    service = run_service({"webhook": channel}, webhook_rule(url))
    service.notify(alarm())
    wait_for(lambda: attempts(store), 10, "the attempt to be recorded")
    headers, body = state.requests[0]
    assert verify(body, SECRET, headers[SIGNATURE_HEADER.lower()])
    assert not verify(body, "another-secret-entirely", headers[SIGNATURE_HEADER.lower()])
    assert int(headers[TIMESTAMP_HEADER.lower()]) > 1_700_000_000_000
    document = orjson.loads(body)
    assert document["alarm"]["alarm_id"] == "alarm-1"
    assert document["alarm"]["details"] == {"pressure_bar": 9.6, "threshold_bar": 9.0}
    recorded = attempts(store)[0]
    assert (recorded.outcome, recorded.status_code, recorded.target) == (AttemptOutcome.DELIVERED, 200, url)
    assert SECRET not in recorded.target
    channel.close()


def test_two_server_errors_then_success_is_delivered_on_attempt_three(
    receiver: tuple[Receiver, str], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    state, url = receiver
    state.statuses = [500, 500, 200]
    service = run_service({"webhook": WebhookChannel(timeout_s=5)}, webhook_rule(url))
    service.notify(alarm())
    wait_for(lambda: len(attempts(store)) == 3, 10, "three attempts")
    recorded = attempts(store)
    assert [(a.attempt, a.outcome, a.status_code) for a in recorded] == [
        (1, AttemptOutcome.RETRY, 500),
        (2, AttemptOutcome.RETRY, 500),
        (3, AttemptOutcome.DELIVERED, 200),
    ]
    assert all(a.duration_ms > 0 for a in recorded)
    assert len({headers["x-openiiot-delivery"] for headers, _ in state.requests}) == 1  # same delivery id
    with store() as uow:
        assert uow.notifications.list_deliveries("t1") == []


def test_a_webhook_that_always_fails_is_dead_lettered_after_n_attempts(
    receiver: tuple[Receiver, str], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    state, url = receiver
    state.statuses = [500]
    service = run_service({"webhook": WebhookChannel(timeout_s=5)}, webhook_rule(url), max_attempts=4)
    service.notify(alarm())
    wait_for(lambda: dead_letters(store), 10, "the dead letter")
    assert len(state.requests) == 4
    assert [a.outcome for a in attempts(store)] == [AttemptOutcome.RETRY] * 3 + [AttemptOutcome.DEAD_LETTER]
    letter = dead_letters(store)[0]
    assert letter.attempts == 4 and "500" in (letter.last_error or "")


def test_a_client_error_is_not_retried(
    receiver: tuple[Receiver, str], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    state, url = receiver
    state.statuses = [400, 200]
    service = run_service({"webhook": WebhookChannel(timeout_s=5)}, webhook_rule(url))
    service.notify(alarm())
    wait_for(lambda: dead_letters(store), 10, "the dead letter")
    wait_for(service.idle, 10, "the service to settle")
    assert len(state.requests) == 1
    assert [(a.outcome, a.status_code) for a in attempts(store)] == [(AttemptOutcome.DEAD_LETTER, 400)]


def test_an_unreachable_webhook_is_retried(store: SqlUnitOfWorkFactory, run_service: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    service = run_service({"webhook": WebhookChannel(timeout_s=2)}, webhook_rule(url), max_attempts=2)
    service.notify(alarm())
    wait_for(lambda: dead_letters(store), 10, "the dead letter")
    assert [a.outcome for a in attempts(store)] == [AttemptOutcome.RETRY, AttemptOutcome.DEAD_LETTER]
    assert "unreachable" in (attempts(store)[0].error or "")


class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_an_email_arrives_with_a_bilingual_subject_and_body(
    smtp_server: tuple[MailSink, int], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    sink, port = smtp_server
    channel = SmtpChannel(host="127.0.0.1", port=port, sender="openiiot@example.com", timeout_s=5)
    rule = {"channel": "email", "target": {"to": ["ops@example.com", "boss@example.com"]}}
    service = run_service({"email": channel}, rule)
    service.notify(alarm())
    wait_for(lambda: sink.messages, 10, "the email")
    recipients, message = sink.messages[0]
    assert recipients == ["ops@example.com", "boss@example.com"]
    assert message["Subject"] == "[CRITICAL] 告警触发 Alarm raised: HighPressure - compressor-1"
    assert message["From"] == "openiiot@example.com"
    body = message.get_content()
    assert "Device: compressor-1 (dev-1)" in body
    assert "设备" in body and "pressure_bar: 9.6" in body
    wait_for(lambda: attempts(store), 10, "the attempt")
    assert (attempts(store)[0].outcome, attempts(store)[0].status_code) == (AttemptOutcome.DELIVERED, 250)


def test_an_unreachable_smtp_relay_is_retried(store: SqlUnitOfWorkFactory, run_service: Any) -> None:
    channel = SmtpChannel(host="127.0.0.1", port=free_port(), sender="openiiot@example.com", timeout_s=2)
    rule = {"channel": "email", "target": {"to": ["ops@example.com"]}}
    service = run_service({"email": channel}, rule, max_attempts=2)
    service.notify(alarm())
    wait_for(lambda: dead_letters(store), 10, "the dead letter")
    assert [a.outcome for a in attempts(store)] == [AttemptOutcome.RETRY, AttemptOutcome.DEAD_LETTER]


# publishes through the embedded broker's service account (mqtt_fixtures), so on the embedded stack only
@pytest.mark.parametrize("stack", [EMBEDDED], indirect=True)
def test_the_mqtt_channel_publishes_under_the_platform_alarm_topic(
    mqtt_broker: BrokerHandle,
    clients: Callable[..., Client],
    store: SqlUnitOfWorkFactory,
    run_service: Any,
) -> None:
    integration = clients(mqtt_broker.port, SERVICE_USER, SERVICE_PASSWORD)
    integration.connect()
    integration.subscribe("platform/alarms/t1/#")
    publisher = MqttPlatformPublisher(
        host="127.0.0.1", port=mqtt_broker.port, username=SERVICE_USER, password=SERVICE_PASSWORD
    )
    publisher.start()
    try:
        rule = {"channel": "mqtt", "target": {"topic_suffix": "scada"}}
        channel = MqttChannel(publisher, topic_prefix=EMBEDDED_ALARM_TOPIC_PREFIX)
        service = run_service({"mqtt": channel}, rule)
        service.notify(alarm())
        wait_for(lambda: integration.messages, 10, "the MQTT notification")
        assert publisher.connected.is_set()  # the broker did not drop the platform's publisher
    finally:
        publisher.stop()
    message = integration.messages[0]
    assert message.topic == "platform/alarms/t1/scada"
    assert orjson.loads(message.payload)["alarm"]["severity"] == "critical"


def test_quiet_hours_hold_back_a_major_alarm_but_not_a_critical_one(
    receiver: tuple[Receiver, str], store: SqlUnitOfWorkFactory, run_service: Any
) -> None:
    state, url = receiver
    # 2026-01-01 00:00 UTC is 08:00 in Shanghai: quiet from 07:00 to 09:00 local
    rule = {**webhook_rule(url), "quiet_hours": QuietHours("07:00", "09:00")}
    service = run_service({"webhook": WebhookChannel(timeout_s=5)}, rule)
    service.notify(alarm("major"))
    service.notify(alarm("critical"))
    wait_for(lambda: state.requests, 10, "the critical webhook")
    wait_for(service.idle, 10, "the service to settle")
    assert [orjson.loads(body)["alarm"]["severity"] for _, body in state.requests] == ["critical"]
