"""Ports: the abstract repositories and stores the services depend on. Adapters live in storage/ and
connectivity/; `bootstrap` chooses them from settings.

Every repository method takes the tenant scope explicitly. `tenant_id=None` means "all tenants" and is
passed only for a platform admin; an object of another tenant is reported as NotFound, never returned.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from openiiot.domain.alarms import Alarm
from openiiot.domain.audit import AuditEntry, AuditQuery
from openiiot.domain.commands import Command, CommandState
from openiiot.domain.connectivity import ConnectivityEvent, DeviceConnectivity
from openiiot.domain.grants import Grant
from openiiot.domain.model import (
    ApiKey,
    Asset,
    Attribute,
    AttributeScope,
    Device,
    DeviceProfile,
    Site,
    Tenant,
    User,
)
from openiiot.domain.notification_deliveries import Delivery, DeliveryAttempt, DeliveryStatus
from openiiot.domain.notifications import NotificationMessage, NotificationRule
from openiiot.domain.telemetry import (
    Aggregate,
    AggregateRow,
    ConsumptionRow,
    Interval,
    LatestValue,
    RawPage,
    TelemetryBatch,
)
from openiiot.domain.workorders import WorkOrder, WorkOrderState


class Clock(Protocol):
    """Wall-clock time in UTC milliseconds; replaced by a fake in tests."""

    def now_ms(self) -> int:
        """Current UTC time in milliseconds since the epoch."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """What the broker and the HTTP device API need to authenticate a device."""

    device_id: str
    tenant_id: str
    token_hash: str  # SHA-256 hex digest of the access token (domain/credentials.py)
    disabled: bool


class BrokerAccounts(Protocol):
    """Device accounts on an external MQTT broker (Mosquitto dynamic security), kept with the device table.

    Called inside the device's unit of work, before the commit, so a broker that refuses or does not
    answer (Overloaded) leaves the device unchanged. Passwords can be set only here, where the plaintext
    token exists: the platform stores digests only.
    """

    def devices_created(self, devices: Sequence[tuple[str, str, bool]]) -> None:
        """Create the accounts of new devices: (device id, access token, disabled) each."""
        ...

    def device_credentials_set(self, devices: Sequence[tuple[str, str, bool]]) -> None:
        """Create or update the accounts of (device id, access token, disabled): a rotated token."""
        ...

    def device_disabled(self, device_id: str, disabled: bool) -> None:
        """Refuse or allow the device's account."""
        ...

    def device_deleted(self, device_id: str) -> None:
        """Remove the device's account."""
        ...


class CredentialLookup(Protocol):
    """Finds a device's credential by its id; one indexed read, cheap enough for reconnect storms."""

    def lookup(self, device_id: str) -> DeviceCredential | None:
        """The credential of the device, or None when no such device exists."""
        ...


class TenantRepository(Protocol):
    """Tenants (enterprises)."""

    def add(self, tenant: Tenant) -> None: ...
    def get(self, tenant_id: str) -> Tenant: ...
    def list(self, *, offset: int = 0, limit: int = 100) -> builtins.list[Tenant]: ...
    def update(self, tenant: Tenant) -> None: ...
    def delete(self, tenant_id: str) -> None: ...


class SiteRepository(Protocol):
    """Sites of a tenant."""

    def add(self, site: Site) -> None: ...
    def get(self, tenant_id: str | None, site_id: str) -> Site: ...
    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> builtins.list[Site]: ...
    def update(self, site: Site) -> None: ...
    def delete(self, tenant_id: str | None, site_id: str) -> None: ...


class AssetRepository(Protocol):
    """Assets of a tenant, forming trees under sites."""

    def add(self, asset: Asset) -> None: ...
    def get(self, tenant_id: str | None, asset_id: str) -> Asset: ...
    def list(
        self,
        tenant_id: str | None,
        *,
        site_id: str | None = None,
        parent_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Asset]: ...
    def update(self, asset: Asset) -> None: ...
    def delete(self, tenant_id: str | None, asset_id: str) -> None: ...


class ProfileRepository(Protocol):
    """Device profiles of a tenant."""

    def add(self, profile: DeviceProfile) -> None: ...
    def get(self, tenant_id: str | None, profile_id: str) -> DeviceProfile: ...
    def get_by_name(self, tenant_id: str, name: str) -> DeviceProfile: ...
    def list(
        self, tenant_id: str | None, *, offset: int = 0, limit: int = 100
    ) -> builtins.list[DeviceProfile]: ...
    def update(self, profile: DeviceProfile) -> None: ...
    def delete(self, tenant_id: str | None, profile_id: str) -> None: ...


class DeviceRepository(Protocol):
    """Devices of a tenant."""

    def add(self, device: Device) -> None: ...
    def get(self, tenant_id: str | None, device_id: str) -> Device: ...
    def get_by_name(self, tenant_id: str, name: str) -> Device: ...
    def list(
        self,
        tenant_id: str | None,
        *,
        asset_id: str | None = None,
        profile_id: str | None = None,
        search: str | None = None,
        ids: Collection[str] | None = None,
        gateway_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Device]: ...
    def count(
        self,
        tenant_id: str | None,
        *,
        asset_id: str | None = None,
        profile_id: str | None = None,
        search: str | None = None,
        ids: Collection[str] | None = None,
        gateway_id: str | None = None,
    ) -> int: ...
    def ids_of_tenant(self, tenant_id: str) -> builtins.list[str]: ...
    def placements(self, tenant_id: str | None) -> builtins.list[tuple[str, str, str | None, str | None]]: ...
    def update(self, device: Device) -> None: ...
    def delete(self, tenant_id: str | None, device_id: str) -> None: ...


class AttributeRepository(Protocol):
    """Attributes of devices in client, shared and server scopes."""

    def upsert(self, attributes: Sequence[Attribute]) -> None: ...
    def list(self, device_id: str, scope: AttributeScope | None = None) -> builtins.list[Attribute]: ...
    def delete(self, device_id: str, scope: AttributeScope, key: str) -> None: ...


class UserRepository(Protocol):
    """Users of the platform."""

    def add(self, user: User) -> None: ...
    def get(self, tenant_id: str | None, user_id: str) -> User: ...
    def get_by_username(self, username: str) -> User: ...
    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> builtins.list[User]: ...
    def update(self, user: User) -> None: ...
    def delete(self, tenant_id: str | None, user_id: str) -> None: ...


class ApiKeyRepository(Protocol):
    """API keys, found by the hash of their secret."""

    def add(self, key: ApiKey) -> None: ...
    def get_by_hash(self, key_hash: str) -> ApiKey: ...
    def list(self, tenant_id: str | None, *, user_id: str | None = None) -> builtins.list[ApiKey]: ...
    def update(self, key: ApiKey) -> None: ...


class NotificationRepository(Protocol):
    """Notification rules of a tenant, pending and dead-lettered deliveries, and the attempt log."""

    def add_rule(self, rule: NotificationRule) -> None: ...
    def get_rule(self, tenant_id: str | None, rule_id: str) -> NotificationRule: ...
    def list_rules(
        self, tenant_id: str | None, *, enabled_only: bool = False, offset: int = 0, limit: int = 100
    ) -> builtins.list[NotificationRule]: ...
    def update_rule(self, rule: NotificationRule) -> None: ...
    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None: ...
    def save_delivery(self, delivery: Delivery) -> None:
        """Insert or replace a delivery (pending or dead-lettered)."""
        ...

    def delete_delivery(self, delivery_id: str) -> None:
        """Forget a delivery once it is delivered; a missing one is no error."""
        ...

    def list_deliveries(
        self,
        tenant_id: str | None,
        *,
        status: DeliveryStatus | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Delivery]:
        """Deliveries oldest first; `status=DEAD_LETTER` lists the dead letters."""
        ...

    def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one attempt to the log."""
        ...

    def list_attempts(
        self,
        tenant_id: str | None,
        *,
        delivery_id: str | None = None,
        rule_id: str | None = None,
        alarm_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[DeliveryAttempt]:
        """Attempts newest first."""
        ...


class NotificationChannel(Protocol):
    """Sends a notification over one kind of channel (webhook, email, MQTT)."""

    kind: str

    def send(self, message: NotificationMessage, target: Mapping[str, Any]) -> int | None:
        """Deliver, returning the receiver's status code where the channel has one (HTTP, SMTP), or raise
        DeliveryFailed (with `retryable`). Blocking; called on a worker thread."""
        ...


@dataclass(frozen=True, slots=True)
class AlarmRuleRecord:
    """An alarm rule attached to a device profile or to an asset (then it applies to every device placed on
    the asset or below it); `rule` is the rule's JSON (see parse_rule)."""

    id: str
    tenant_id: str
    profile_id: str | None
    rule: dict[str, Any]
    enabled: bool = True
    asset_id: str | None = None


@dataclass(frozen=True, slots=True)
class StateWrite:
    """One evaluator state to write over the version it was read at (None: there was no row)."""

    rule_id: str
    originator_id: str
    tenant_id: str
    state: dict[str, Any]
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class WindowChunk:
    """The items one state write appended to one window (series) of a rule state; `seq` is the state
    version that write created, so chunks are in order and two writers of one version collide."""

    rule_id: str
    originator_id: str
    series: str
    seq: int
    items: list[Any]


@dataclass(frozen=True, slots=True)
class WindowTrim:
    """Delete the chunks of one series older than `below_seq` (their items have left the window)."""

    rule_id: str
    originator_id: str
    series: str
    below_seq: int


class AlarmRepository(Protocol):
    """Alarm rules, per-(rule, originator) evaluator state (JSON) and alarms with their history."""

    def add_rule(self, record: AlarmRuleRecord) -> None: ...
    def get_rule(self, tenant_id: str | None, rule_id: str) -> AlarmRuleRecord: ...
    def list_rules(
        self,
        tenant_id: str | None,
        *,
        profile_id: str | None = None,
        asset_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[AlarmRuleRecord]: ...
    def update_rule(self, record: AlarmRuleRecord) -> None: ...
    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None: ...
    def get_state(self, rule_id: str, originator_id: str) -> dict[str, Any] | None: ...
    def get_states(self, rule_ids: Sequence[str], originator_id: str) -> dict[str, dict[str, Any] | None]:
        """The states of several rules for one originator, read together."""
        ...

    def save_state(self, rule_id: str, originator_id: str, tenant_id: str, state: dict[str, Any]) -> None: ...
    def get_versioned_states(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
        """States and versions of several (rule, originator) pairs in one query; absent pairs are left out."""
        ...

    def write_states(self, writes: Sequence[StateWrite]) -> None:
        """Write states over exactly the versions read (None: insert); Conflict when another process wrote
        one of them first (decision 0007). Each written row's version becomes `expected_version + 1`
        (1 for an insert)."""
        ...

    def read_window_chunks(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], builtins.list[WindowChunk]]:
        """The stored window chunks of several (rule, originator) pairs, by series then seq; pairs without
        chunks are left out (decision 0015)."""
        ...

    def write_window_chunks(self, appends: Sequence[WindowChunk], trims: Sequence[WindowTrim]) -> None:
        """Add chunks and delete old ones, in the unit of work that writes their states (after
        `write_states`, whose version check guards them); a chunk that exists already is a Conflict."""
        ...

    def get_open_alarm(self, originator_id: str, rule_id: str) -> Alarm | None: ...
    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or replace; at most one active alarm per (originator, rule) (Conflict otherwise)."""
        ...

    def get_alarm(self, tenant_id: str | None, alarm_id: str) -> Alarm: ...
    def list_alarms(
        self,
        tenant_id: str | None,
        *,
        active: bool | None = None,
        severity: str | None = None,
        originator_id: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Alarm]:
        """Alarms raised in [from_ms, to_ms), newest first."""
        ...


class AuditRepository(Protocol):
    """The append-only audit log: entries are added, never changed."""

    def add(self, entry: AuditEntry) -> None: ...
    def list(
        self, tenant_id: str | None, query: AuditQuery, *, offset: int = 0, limit: int = 100
    ) -> builtins.list[AuditEntry]:
        """Entries of the tenant (None: every tenant) that match, newest first."""
        ...


class ConnectivityRepository(Protocol):
    """Current connectivity of each device (written periodically) and the log of its transitions."""

    def save_states(self, states: Sequence[DeviceConnectivity]) -> None:
        """Insert or replace these devices' current states."""
        ...

    def save_activity(self, last_activity_ms: Mapping[str, int]) -> None:
        """Move only the last activity of devices whose state is stored (the cheap, frequent write)."""
        ...

    def load_states(self) -> builtins.list[DeviceConnectivity]: ...
    def add_events(self, events: Sequence[ConnectivityEvent]) -> None: ...
    def list_events(
        self,
        device_id: str,
        *,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[ConnectivityEvent]:
        """The device's transitions in [from_ms, to_ms), newest first."""
        ...

    def delete_events_before(self, cutoff_ms: int) -> int:
        """Retention: delete every device's transitions older than `cutoff_ms`; return how many."""
        ...


class CommandRepository(Protocol):
    """Commands (RPC) to devices."""

    def add(self, command: Command) -> None:
        """Store a new command; Conflict when its idempotency key is taken in the tenant."""
        ...

    def get(self, tenant_id: str | None, command_id: str) -> Command: ...
    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Command | None: ...
    def update(self, command: Command) -> None: ...
    def list(
        self,
        tenant_id: str | None,
        *,
        device_id: str | None = None,
        state: CommandState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Command]:
        """Commands newest first."""
        ...

    def queued_for(self, device_id: str) -> builtins.list[Command]:
        """The device's QUEUED commands, oldest first."""
        ...

    def open_commands(self, limit: int = 10_000) -> builtins.list[Command]:
        """Commands not in a final state, oldest first."""
        ...


class WorkOrderRepository(Protocol):
    """Work orders."""

    def add(self, order: WorkOrder) -> None: ...
    def get(self, tenant_id: str | None, order_id: str) -> WorkOrder: ...
    def update(self, order: WorkOrder) -> None: ...
    def list(
        self,
        tenant_id: str | None,
        *,
        state: WorkOrderState | None = None,
        assignee: str | None = None,
        asset_id: str | None = None,
        device_id: str | None = None,
        alarm_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[WorkOrder]:
        """Work orders newest first."""
        ...


class AttachmentStore(Protocol):
    """Bytes of work order attachments by generated id."""

    def put(self, attachment_id: str, data: bytes) -> None: ...
    def get(self, attachment_id: str) -> bytes:
        """The bytes, or NotFound."""
        ...


class GrantRepository(Protocol):
    """Sharing grants between tenants."""

    def add(self, grant: Grant) -> None: ...
    def get(self, grant_id: str) -> Grant: ...
    def update(self, grant: Grant) -> None: ...
    def list(
        self, *, grantor_tenant_id: str | None = None, grantee_tenant_id: str | None = None
    ) -> builtins.list[Grant]:
        """Grants given by or to a tenant, newest first."""
        ...


class UnitOfWork(Protocol):
    """One metadata transaction: `with uow: ...; uow.commit()`. Leaving without commit rolls back."""

    tenants: TenantRepository
    sites: SiteRepository
    assets: AssetRepository
    profiles: ProfileRepository
    devices: DeviceRepository
    attributes: AttributeRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    alarms: AlarmRepository
    notifications: NotificationRepository
    audit: AuditRepository
    connectivity: ConnectivityRepository
    commands: CommandRepository
    workorders: WorkOrderRepository
    grants: GrantRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work per use case."""

    def __call__(self) -> UnitOfWork: ...


class TelemetryStore(Protocol):
    """Time-series storage. Methods are synchronous; async callers run them in a worker thread.

    All timestamps are UTC milliseconds; ranges are [start_ms, end_ms). Writes are idempotent on
    (device, key, ts): writing the same point twice keeps one row (the last value written wins).
    """

    def append(self, batch: TelemetryBatch) -> int:
        """Append a batch in one transaction and update latest values and rollups; return points stored."""
        ...

    def raw(
        self,
        device_id: str,
        keys: Sequence[str] | None,
        start_ms: int,
        end_ms: int,
        *,
        limit: int = 1000,
        cursor: str | None = None,
        descending: bool = False,
    ) -> RawPage:
        """Raw points of the device in range, paged by an opaque cursor."""
        ...

    def aggregate(
        self,
        device_id: str,
        keys: Sequence[str],
        start_ms: int,
        end_ms: int,
        interval: Interval,
        aggregates: Sequence[Aggregate],
        timezone: str = "UTC",
    ) -> dict[str, list[AggregateRow]]:
        """Aggregates per key per interval; day and month buckets follow `timezone`; empty buckets omitted.

        Long ranges are answered from the 1-minute or 1-hour rollups when the interval is a multiple of them.
        """
        ...

    def latest(
        self, device_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, LatestValue]]:
        """Newest value of each key of each device."""
        ...

    def consumption(
        self,
        device_id: str,
        key: str,
        start_ms: int,
        end_ms: int,
        interval: Interval,
        timezone: str = "UTC",
        *,
        rollover_at: float | None = None,
    ) -> builtins.list[ConsumptionRow]:
        """Consumption of a cumulative counter per interval.

        A decrease is a meter reset (consumption restarts from the new value) unless `rollover_at` is given
        and the previous value was near it: then the counter wrapped, delta = rollover_at - prev + new.
        Deltas between consecutive samples are attributed to the interval of the later sample.
        """
        ...

    def delete_before(self, device_ids: Sequence[str], cutoff_ms: int) -> int:
        """Retention: delete raw points of these devices older than `cutoff_ms`; return points deleted."""
        ...

    def delete_device(self, device_id: str) -> None:
        """Remove every point, latest value and rollup of a device."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
