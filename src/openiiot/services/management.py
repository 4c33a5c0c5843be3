"""The management services as one object: what the API, the console and the CLI call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openiiot.services.alarm_notifications import AlarmEventSink, ignore_events
from openiiot.services.alarms import AlarmService, RulesChanged
from openiiot.services.attributes import AttributeService, SharedAttributesCallback
from openiiot.services.audit import AuditService
from openiiot.services.auth import AuthService, PasswordHashing
from openiiot.services.commands import CommandService
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.devices import DeviceService
from openiiot.services.grants import GrantService
from openiiot.services.health import HealthService
from openiiot.services.notification_rules import NotificationRuleService
from openiiot.services.ports import (
    AttachmentStore,
    BrokerAccounts,
    Clock,
    TelemetryStore,
    UnitOfWorkFactory,
)
from openiiot.services.profiles import ProfileService
from openiiot.services.provisioning import ProvisioningService
from openiiot.services.sites import AssetService, SiteService
from openiiot.services.telemetry_queries import TelemetryQueryService
from openiiot.services.tenants import TenantService
from openiiot.services.users import UserService
from openiiot.services.workorders import WorkOrderService


@dataclass(frozen=True, slots=True)
class Services:
    """Every management handler, wired to the same stores."""

    auth: AuthService
    tenants: TenantService
    users: UserService
    sites: SiteService
    assets: AssetService
    profiles: ProfileService
    devices: DeviceService
    attributes: AttributeService
    telemetry: TelemetryQueryService
    provisioning: ProvisioningService
    health: HealthService
    alarms: AlarmService
    audit: AuditService
    notification_rules: NotificationRuleService
    connectivity: ConnectivityService
    commands: CommandService
    workorders: WorkOrderService
    grants: GrantService


def _ignore_device(_device_id: str) -> None:
    return None


def _ignore_rules(_profile_id: str | None) -> None:
    return None


def _ignore_shared(_device_id: str, _values: object) -> None:
    return None


def build_services(
    uow: UnitOfWorkFactory,
    telemetry: TelemetryStore,
    clock: Clock,
    jwt_secret: str,
    jwt_ttl_s: int,
    *,
    on_device_changed: Callable[[str], None] = _ignore_device,
    on_shared_attributes: SharedAttributesCallback = _ignore_shared,
    passwords: PasswordHashing | None = None,
    on_alarm_rules_changed: RulesChanged | None = None,
    on_alarm_events: AlarmEventSink = ignore_events,
    connectivity: ConnectivityService | None = None,
    commands: CommandService | None = None,
    attachments: AttachmentStore | None = None,
    broker_accounts: BrokerAccounts | None = None,
) -> Services:
    """Wire the handlers; the callbacks drop ingest cache entries and push shared attributes to devices."""
    hashing = passwords or PasswordHashing()
    return Services(
        auth=AuthService(uow, clock, jwt_secret, jwt_ttl_s, hashing),
        tenants=TenantService(uow),
        users=UserService(uow, hashing, clock),
        sites=SiteService(uow),
        assets=AssetService(uow),
        profiles=ProfileService(uow, on_device_changed),
        devices=DeviceService(uow, telemetry, clock, on_device_changed, broker_accounts),
        attributes=AttributeService(uow, clock, on_shared_attributes),
        telemetry=TelemetryQueryService(uow, telemetry, clock),
        provisioning=ProvisioningService(uow, clock, on_device_changed, broker_accounts),
        health=HealthService(uow, telemetry),
        alarms=AlarmService(uow, clock, on_alarm_rules_changed or _ignore_rules, on_alarm_events),
        audit=AuditService(uow, clock),
        notification_rules=NotificationRuleService(uow, clock),
        connectivity=connectivity or ConnectivityService(uow, DeviceDirectory(uow), clock),
        commands=commands or CommandService(uow, clock),
        workorders=WorkOrderService(uow, clock, attachments),
        grants=GrantService(uow, clock),
    )
