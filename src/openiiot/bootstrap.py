"""The composition root: builds adapters from Settings and wires the services.

Only this module imports concrete adapters. Nothing is created at import time: `build_platform` creates
stores and services, `Platform.start` starts the broker, the ingest worker and the MQTT consumer.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from openiiot.connectivity.http.device_api import create_device_router
from openiiot.connectivity.mqtt.broker import BrokerRunConfig, EmbeddedBroker
from openiiot.connectivity.mqtt.broker_metrics import BrokerStatsCollector
from openiiot.connectivity.mqtt.consumer import MqttIngestConsumer
from openiiot.connectivity.mqtt.dynsec import DynsecAccounts, parse_broker_url
from openiiot.connectivity.mqtt.publisher import MqttPlatformPublisher
from openiiot.connectivity.mqtt.topics import (
    TopicKind,
    gateway_rpc_request_topic,
    gateway_topic,
    rpc_request_topic,
)
from openiiot.connectivity.notify.mqtt import (
    ALARM_TOPIC_PREFIX,
    EMBEDDED_ALARM_TOPIC_PREFIX,
    MqttChannel,
)
from openiiot.connectivity.notify.smtp import SmtpChannel
from openiiot.connectivity.notify.webhook import WebhookChannel
from openiiot.domain.credentials import hash_token
from openiiot.domain.errors import ConfigurationError, DeliveryFailed
from openiiot.domain.model import AttributeScope
from openiiot.domain.notifications import AlarmEvent
from openiiot.services.alarm_engine import AlarmEngine
from openiiot.services.clock import SystemClock
from openiiot.services.commands import CommandService
from openiiot.services.condition_jobs import ConditionJob
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.gateway import GatewayRouter
from openiiot.services.gateway_payloads import child_request
from openiiot.services.ingest import IngestPipeline
from openiiot.services.management import build_services
from openiiot.services.metrics import IngestMetrics
from openiiot.services.notifications import NotificationService
from openiiot.services.ports import Clock, NotificationChannel, TelemetryStore, UnitOfWorkFactory
from openiiot.services.retention import apply_connectivity_retention, apply_retention
from openiiot.services.scheduler import LeaderLock, PeriodicJob, SingleProcess
from openiiot.settings import Settings
from openiiot.storage.attachments import FileAttachmentStore
from openiiot.storage.sql.credentials import open_credential_lookup
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.leader import PostgresLeaderLock
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore, is_postgres_url, redacted

log = logging.getLogger(__name__)

SERVICE_USERNAME = "openiiot-platform"
ALARM_TICK_S = 2.0  # how often time-driven alarm conditions (durations, no data) are advanced
# how often devices past their inactivity timeout turn inactive (and connectivity events are written)
CONNECTIVITY_CHECK_S = 2.0
CONNECTIVITY_FLUSH_S = 30.0  # how often current connectivity states are written
SHELVING_CHECK_S = 5.0  # how often expired shelving is ended (and recorded) on open alarms
COMMAND_TICK_S = 1.0  # how often command expiry and answer timeouts are checked
WORK_ORDER_VERIFY_S = 10.0  # how often resolved work orders on cleared alarms are checked for verification


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """The JWT secret and MQTT service password, generated once and kept in the data dir (mode 0600)."""
    path = data_dir / "secrets.json"
    values: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = [name for name in ("jwt_secret", "mqtt_service_password") if not values.get(name)]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(32)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(values, fh)
        tmp.replace(path)
    return values


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail fast, with a message that says what to change, when a port is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            env = "OPENIIOT_HTTP_PORT" if what == "HTTP" else "OPENIIOT_MQTT_PORT"
            raise ConfigurationError(
                f"{what} port {port} on {host} is already in use; stop the other program or set {env}"
            ) from exc


ROLES = ("all", "api", "ingest", "scheduler")
TIMESCALE_CHOICES: dict[str, bool | None] = {"auto": None, "require": True, "off": False}
INGEST_SHARE_GROUP = "openiiot-ingest"


@dataclass
class Platform:
    """Everything one platform process needs, wired together."""

    settings: Settings
    clock: Clock
    uow: UnitOfWorkFactory
    telemetry: TelemetryStore
    services: Any
    directory: DeviceDirectory
    ingest: IngestPipeline
    metrics: IngestMetrics
    registry: CollectorRegistry
    service_password: str
    database_url: str
    extra_routers: list[APIRouter] = field(default_factory=list)
    broker: EmbeddedBroker | None = None
    broker_accounts: DynsecAccounts | None = None  # external Mosquitto (OPENIIOT_MQTT_URL)
    consumer: MqttIngestConsumer | None = None
    publisher: MqttPlatformPublisher | None = None
    jobs: list[PeriodicJob] = field(default_factory=list)
    alarm_engine: AlarmEngine | None = None
    notifications: NotificationService | None = None
    connectivity: ConnectivityService | None = None
    commands: CommandService | None = None
    gateways: GatewayRouter | None = None
    leader: LeaderLock = field(default_factory=SingleProcess)  # who runs the fleet-wide jobs
    role: str = "all"
    condition: ConditionJob | None = None

    def start(self, role: str = "all") -> None:
        """Start what the process role runs (docs/deploy.md): `all` — everything, the only role of embedded
        mode; `api` — HTTP API, console and HTTP device API; `ingest` — the MQTT consumer on a shared
        subscription with a persistent session, ingest, alarm evaluation; `scheduler` — the fleet-wide jobs
        (they run in one process at a time anyway: the scheduler lock)."""
        s = self.settings
        if role not in ROLES:
            raise ConfigurationError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if role != "all" and (s.mqtt_url is None or not is_postgres_url(self.database_url)):
            raise ConfigurationError(
                f"the role {role!r} needs production mode: set OPENIIOT_DATABASE_URL (PostgreSQL) and "
                "OPENIIOT_MQTT_URL; embedded mode (SQLite, DuckDB, the embedded broker) is one process: "
                "--role all"
            )
        self.role = role
        if self.connectivity is not None:
            # the embedded broker starts with us: every device must open a new session
            self.connectivity.load(sessions_reset=s.mqtt_url is None)
        if s.mqtt_url is None:
            check_port_free(s.mqtt_host, s.mqtt_port, "MQTT")
            self.broker = EmbeddedBroker(
                BrokerRunConfig(
                    host=s.mqtt_host,
                    port=s.mqtt_port,
                    max_payload_bytes=s.max_payload_bytes,
                    service_username=SERVICE_USERNAME,
                    service_password_hash=hash_token(self.service_password),
                    credentials_factory="openiiot.storage.sql.credentials:open_credential_lookup",
                    credentials_arg=self.database_url,
                )
            )
            self.broker.start()
            host, port, username, password = s.mqtt_host, s.mqtt_port, SERVICE_USERNAME, self.service_password
            tls = False
        else:
            url = parse_broker_url(s.mqtt_url)
            if self.broker_accounts is not None:
                # fails fast: unreachable broker, wrong credentials, dynamic-security plugin not loaded
                self.broker_accounts.start()
            # with OPENIIOT_MQTT_AUTH=http the broker asks our HTTP hooks about devices; the consumer's
            # login below still fails fast on a wrong address or credentials
            host, port, username, password = url.host, url.port, url.username, url.password
            tls = url.tls
        self.ingest.start()  # the HTTP device API of the api role feeds it too
        self.publisher = MqttPlatformPublisher(
            host=host,
            port=port,
            username=username,
            password=password,
            tls=tls,
            # one publisher per process: processes sharing a client id would disconnect each other
            client_id=f"openiiot-publisher-{role}-{s.worker_name}" if s.mqtt_url is not None else None,
        )
        self.publisher.start()
        if self.commands is not None and self.connectivity is not None:
            self.commands.attach_sender(self._send_command, self.connectivity.is_connected)
        if role in ("all", "ingest"):
            self._start_consumer(host, port, username, password, tls)
        if self.notifications is not None:
            self.notifications.start()  # delivers the alarm events this process produces
        self.jobs = self._jobs(role)
        for job in self.jobs:
            job.start()

    def device_mqtt_address(self) -> tuple[str, int, bool]:
        """Where devices connect: (host, port, TLS) of the external broker, or of the embedded one."""
        if self.settings.mqtt_url is not None:
            url = parse_broker_url(self.settings.mqtt_url)
            return url.host, url.port, url.tls
        return self.settings.mqtt_host, self.settings.mqtt_port, False

    def _start_consumer(self, host: str, port: int, username: str, password: str, tls: bool) -> None:
        s = self.settings
        external = s.mqtt_url is not None
        self.consumer = MqttIngestConsumer(
            # several ingest workers split the device topics through one shared subscription; each keeps a
            # persistent QoS 1 session named after its worker name, so a restarted worker loses nothing
            # OPENIIOT_MQTT_SHARED_SUBSCRIPTION=false: one worker with a plain subscription, which
            # Mosquitto 2.0 restores from its persistence file after a restart (shared ones it does not)
            share_group=INGEST_SHARE_GROUP if external and s.mqtt_shared_subscription else None,
            client_id=f"openiiot-ingest-{s.worker_name}" if external else None,
            host=host,
            port=port,
            username=username,
            password=password,
            tls=tls,
            # Mosquitto publishes its log (client connects and disconnects) with `log_dest topic`
            session_log=self.broker_accounts is not None,
            submit=self.gateways.submit if self.gateways is not None else self.ingest.submit,
            clock=self.clock,
            on_session=self._session_changed,
            on_rpc_response=self.commands.on_response if self.commands is not None else None,
            on_rpc_delivered=self.commands.on_delivered if self.commands is not None else None,
        )
        self.consumer.start()
        consumer = self.consumer
        self.registry.register(BrokerStatsCollector(lambda: consumer.broker_stats))

    def _jobs(self, role: str) -> list[PeriodicJob]:
        jobs: list[PeriodicJob] = []
        if role != "scheduler" and self.connectivity is not None:  # this process's own device activity
            jobs.append(PeriodicJob("connectivity-check", CONNECTIVITY_CHECK_S, self.connectivity.check))
            jobs.append(PeriodicJob("connectivity-flush", CONNECTIVITY_FLUSH_S, self.connectivity.flush))
        if role not in ("all", "scheduler"):
            return jobs
        # fleet-wide jobs run in the one process that holds the scheduler lock (docs/deploy.md)
        leader = self.leader
        jobs += [
            PeriodicJob(
                "retention",
                3600,
                lambda: apply_retention(self.uow, self.telemetry, self.clock),
                leader=leader,
            ),
            PeriodicJob(
                "connectivity-retention",
                3600,
                lambda: apply_connectivity_retention(
                    self.uow, self.clock, self.settings.connectivity_event_retention_days
                ),
                leader=leader,
            ),
            PeriodicJob(
                "alarm-shelving", SHELVING_CHECK_S, self.services.alarms.expire_shelving_due, leader=leader
            ),
        ]
        if self.alarm_engine is not None:
            jobs.append(PeriodicJob("alarms", ALARM_TICK_S, self.alarm_engine.tick_all, leader=leader))
        if self.commands is not None:
            jobs.append(PeriodicJob("commands", COMMAND_TICK_S, self.commands.tick, leader=leader))
        if self.condition is not None:
            interval_s = self.settings.condition_interval_s
            jobs.append(PeriodicJob("condition", interval_s, self.condition.run, leader=leader))
        jobs.append(
            PeriodicJob(
                "work-order-verify", WORK_ORDER_VERIFY_S, self.services.workorders.verify_due, leader=leader
            )
        )
        return jobs

    def _session_changed(self, device_id: str, connected: bool, ts_ms: int, reason: str) -> None:
        if self.connectivity is None:
            return
        if connected:
            self.connectivity.session_opened(device_id, ts_ms)
        else:
            children = self.connectivity.session_closed(device_id, ts_ms, reason)
            if children and self.gateways is not None:
                self.gateways.gateway_closed(children)
        if self.commands is not None:
            if connected:
                self.commands.on_session_opened(device_id)
            else:
                self.commands.on_session_closed(device_id)

    def _send_command(self, device_id: str, rpc_id: str, payload: bytes) -> None:
        """Publish a command request: on the device's own topic, or through its gateway while the gateway
        has it connected (docs/device-api.md "Gateways")."""
        if self.publisher is None:
            raise DeliveryFailed("the platform's MQTT publisher is not running", retryable=True)
        route = self.gateways.route_of(device_id) if self.gateways is not None else None
        if route is None:
            self.publisher.publish(rpc_request_topic(device_id, rpc_id), payload)
        else:
            gateway_id, name = route
            self.publisher.publish(
                gateway_rpc_request_topic(gateway_id, rpc_id), child_request(name, rpc_id, payload)
            )

    def push_shared_attributes(self, device_id: str) -> None:
        """Publish the device's complete shared-attribute set, retained (a retained message replaces all);
        to a child connected through its gateway, also to the gateway as `{"device": name, "data": set}`."""
        if self.publisher is None:
            return
        with self.uow() as uow:
            shared = uow.attributes.list(device_id, AttributeScope.SHARED)
        values = {a.key: a.value for a in shared}
        if shared:
            self.publisher.publish_shared_attributes(device_id, values)
        else:
            self.publisher.clear_shared_attributes(device_id)
        route = self.gateways.route_of(device_id) if self.gateways is not None else None
        if route is not None:
            gateway_id, name = route
            topic = gateway_topic(gateway_id, TopicKind.GATEWAY_SHARED_ATTRIBUTES)
            self.publisher.publish(topic, orjson.dumps({"device": name, "data": values}))

    def answer_gateway(self, gateway_id: str, payload: bytes) -> None:
        """Publish the answer to a gateway's attribute request on its `gateway/attributes/response`."""
        if self.publisher is None:
            log.warning("no MQTT publisher to answer a gateway", extra={"gateway_id": gateway_id})
            return
        self.publisher.publish(gateway_topic(gateway_id, TopicKind.GATEWAY_ATTRIBUTES_RESPONSE), payload)

    def stop(self) -> None:
        """Stop in reverse order: no new messages, drain and commit, then the broker and stores."""
        for job in self.jobs:
            job.stop()
        if self.consumer is not None:
            self.consumer.stop()
        self.ingest.stop()
        if self.connectivity is not None:
            try:
                self.connectivity.check()
                self.connectivity.flush()
            except Exception:
                log.exception("writing connectivity at stop failed")
        if self.notifications is not None:
            self.notifications.stop()
        if self.publisher is not None:
            self.publisher.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.broker_accounts is not None:
            self.broker_accounts.stop()
        self.telemetry.close()
        if isinstance(self.leader, PostgresLeaderLock):
            self.leader.close()


def build_platform(settings: Settings) -> Platform:
    """Create the data directory, apply migrations, open the stores and wire the services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # a malformed OPENIIOT_MQTT_URL fails here, before anything is opened; the broker is checked at start
    broker_url = parse_broker_url(settings.mqtt_url) if settings.mqtt_url else None
    broker_accounts = (
        DynsecAccounts(broker_url) if broker_url is not None and settings.mqtt_auth == "dynsec" else None
    )
    secret_values = load_or_create_secrets(settings.data_dir)
    database_url = settings.database_url or sqlite_url(settings.sqlite_path)
    try:
        engine = create_metadata_engine(database_url)
        upgrade_to_head(engine)
    except ConfigurationError:
        raise
    except Exception as exc:
        # the driver's words, without SQLAlchemy's wrapper
        reason = str(getattr(exc, "orig", None) or exc).strip()
        raise ConfigurationError(
            f"cannot open the metadata database {redacted(database_url)}: {reason}; "
            "check OPENIIOT_DATABASE_URL (host, port, user, password, database) and that the server runs"
        ) from exc
    uow = SqlUnitOfWorkFactory(engine)
    telemetry: TelemetryStore = (
        PostgresTelemetryStore(database_url, timescale=TIMESCALE_CHOICES[settings.telemetry_timescale])
        if is_postgres_url(database_url)
        else DuckDBTelemetryStore(settings.duckdb_path)
    )
    clock = SystemClock()
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    directory = DeviceDirectory(uow)
    platform: Platform
    notifications = NotificationService(
        uow,
        notification_channels(settings, lambda: platform.publisher),
        clock,
        max_attempts=settings.notification_max_attempts,
    )
    connectivity = ConnectivityService(uow, directory, clock)
    commands = CommandService(
        uow, clock, on_answer=lambda device_id, ts_ms: connectivity.activity({device_id: ts_ms})
    )
    workorders_box: list[Any] = []  # the work-order service exists once the services are built

    def on_alarm_events(events: Sequence[AlarmEvent]) -> None:
        notify_all(notifications)(events)
        for service in workorders_box:
            try:
                service.open_for_alarms(events)
            except Exception:
                log.exception("opening work orders for alarms failed")

    alarm_engine = AlarmEngine(
        uow,
        directory,
        clock,
        on_events=on_alarm_events,
        last_activity=connectivity.last_activity_ms,
    )
    ingest = IngestPipeline(
        directory=directory,
        uow=uow,
        store=telemetry,
        clock=clock,
        metrics=metrics,
        max_payload_bytes=settings.max_payload_bytes,
        max_future_ms=settings.max_future_skew_s * 1000,
        max_past_ms=settings.max_past_age_days * 86_400_000,
        queue_size=settings.ingest_queue_size,
        batch_max=settings.ingest_batch_max,
        batch_wait_ms=settings.ingest_batch_wait_ms,
        listeners=[alarm_engine.on_batch],
        activity_listeners=[connectivity.activity],
    )

    gateways = GatewayRouter(
        uow=uow,
        directory=directory,
        clock=clock,
        submit=ingest.submit,
        metrics=metrics,
        connectivity=connectivity,
        commands=commands,
        broker=broker_accounts,
        max_payload_bytes=settings.max_payload_bytes,
        max_children=settings.gateway_max_children,
        # a child that the gateway connects gets its shared attributes through the gateway
        on_child_connected=lambda child_id: platform.push_shared_attributes(child_id),
        respond=lambda gateway_id, payload: platform.answer_gateway(gateway_id, payload),
    )

    def on_device_changed(device_id: str) -> None:
        directory.invalidate(device_id)  # first: connectivity reads the device's new profile through it
        connectivity.device_changed(device_id)
        gateways.forget(device_id)

    def on_shared_attributes(device_id: str, values: dict[str, Any]) -> None:
        platform.push_shared_attributes(device_id)

    services = build_services(
        uow=uow,
        telemetry=telemetry,
        clock=clock,
        jwt_secret=settings.jwt_secret or secret_values["jwt_secret"],
        jwt_ttl_s=settings.jwt_ttl_s,
        on_device_changed=on_device_changed,
        on_shared_attributes=on_shared_attributes,
        on_alarm_rules_changed=alarm_engine.invalidate_rules,
        on_alarm_events=on_alarm_events,
        connectivity=connectivity,
        commands=commands,
        attachments=FileAttachmentStore(settings.data_dir / "attachments"),
        broker_accounts=broker_accounts,
    )
    workorders_box.append(services.workorders)
    lookup = open_credential_lookup(database_url)
    device_router = create_device_router(ingest, lookup, clock, settings.max_payload_bytes, commands=commands)
    platform = Platform(
        settings=settings,
        clock=clock,
        uow=uow,
        telemetry=telemetry,
        services=services,
        directory=directory,
        ingest=ingest,
        metrics=metrics,
        registry=registry,
        service_password=secret_values["mqtt_service_password"],
        database_url=database_url,
        extra_routers=[device_router],
        alarm_engine=alarm_engine,
        notifications=notifications,
        connectivity=connectivity,
        commands=commands,
        gateways=gateways,
        leader=PostgresLeaderLock(database_url) if is_postgres_url(database_url) else SingleProcess(),
        broker_accounts=broker_accounts,
        # derived cm.* values reach the alarm rules through the same listener as ingested telemetry
        condition=ConditionJob(uow, telemetry, clock, on_derived=alarm_engine.on_batch),
    )
    return platform


class _LatePublisher:
    """The platform's MQTT publisher, which exists only once the platform has started."""

    def __init__(self, get: Callable[[], MqttPlatformPublisher | None]) -> None:
        self._get = get

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        publisher = self._get()
        if publisher is None:
            raise DeliveryFailed("the platform's MQTT publisher is not running", retryable=True)
        publisher.publish(topic, payload, qos=qos, retain=retain)


def notification_channels(
    settings: Settings, publisher: Callable[[], MqttPlatformPublisher | None]
) -> dict[str, NotificationChannel]:
    """Webhooks and MQTT always; email when an SMTP relay is configured (with a sender address)."""
    prefix = settings.alarm_topic_prefix or (
        EMBEDDED_ALARM_TOPIC_PREFIX if settings.mqtt_url is None else ALARM_TOPIC_PREFIX
    )
    channels: dict[str, NotificationChannel] = {
        "webhook": WebhookChannel(),
        "mqtt": MqttChannel(_LatePublisher(publisher), topic_prefix=prefix),
    }
    if settings.smtp_host is not None:
        if not settings.smtp_from:
            raise ConfigurationError(
                "OPENIIOT_SMTP_HOST is set but OPENIIOT_SMTP_FROM is not; name the sender"
            )
        channels["email"] = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    return channels


def notify_all(service: NotificationService) -> Callable[[Sequence[AlarmEvent]], None]:
    """The alarm-event sink that queues each event for notification (never blocks)."""

    def sink(events: Sequence[AlarmEvent]) -> None:
        for event in events:
            service.notify(event)

    return sink
