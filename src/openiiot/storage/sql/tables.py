"""ORM rows of the metadata database. Repositories convert them to and from the frozen domain objects."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# stable constraint names: Alembic batch mode on SQLite and PostgreSQL both need to address them by name
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)  # UUID text for generated ids; devices may bring longer ids of their own
NAME = String(200)


class JsonText(TypeDecorator[Any]):
    """JSON stored as TEXT, on SQLite and PostgreSQL alike, so a document reads back exactly as written.

    SQLite gives a column declared JSON numeric affinity, which would store the document '0.0' as the
    integer 0 and round big integers through float; PostgreSQL's JSONB normalises numbers (the float 1e16
    reads back as the integer 10000000000000000)."""

    impl = Text
    cache_ok = True
    should_evaluate_none = True  # None is the JSON document `null`, not SQL NULL

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        """Serialise; NaN and infinities are refused because they are not JSON."""
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Parse the stored document."""
        return None if value is None else json.loads(value)


JsonType = JsonText()


class HotJsonText(JsonText):
    """JsonText serialised by orjson, for a document rewritten with every ingest batch (an alarm rule's
    state, whose rate and deviation windows are long arrays of numbers: json.dumps took longer than
    evaluating the rule). orjson refuses integers beyond 64 bits but writes NaN as null, so this type is for
    documents whose numbers are finite by construction (telemetry values: ingest refuses NaN and infinity)."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        """Serialise with orjson (the same document, written several times faster)."""
        return orjson.dumps(value).decode()


HotJsonType = HotJsonText()


class Base(DeclarativeBase):
    """Declarative base holding the metadata Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantRow(Base):
    """An enterprise."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    timezone: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str | None] = mapped_column(String(6))
    industry_code: Mapped[str | None] = mapped_column(String(8))
    credit_code: Mapped[str | None] = mapped_column(String(32))
    retention_days: Mapped[int] = mapped_column(Integer)


class SiteRow(Base):
    """A plant or station of a tenant."""

    __tablename__ = "sites"
    __table_args__ = (Index("ix_sites_tenant_id_name", "tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class AssetRow(Base):
    """A node of a site's asset tree."""

    __tablename__ = "assets"
    __table_args__ = (Index("ix_assets_tenant_id_name", "tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    site_id: Mapped[str] = mapped_column(ID, ForeignKey("sites.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ID, ForeignKey("assets.id"), index=True)
    name: Mapped[str] = mapped_column(NAME)
    asset_type: Mapped[str] = mapped_column(String(64))
    maintenance_mode: Mapped[bool] = mapped_column(Boolean)


class ProfileRow(Base):
    """A device profile; its telemetry key specs are a JSON list (always read and written whole)."""

    __tablename__ = "device_profiles"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    keys: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    strict: Mapped[bool] = mapped_column(Boolean)
    inactivity_timeout_s: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    methods: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, server_default="[]")


class DeviceRow(Base):
    """A device; the primary key lookup on `id` is the broker's authentication query."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    profile_id: Mapped[str] = mapped_column(ID, ForeignKey("device_profiles.id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(ID, ForeignKey("assets.id"), index=True)
    gateway_id: Mapped[str | None] = mapped_column(ID, ForeignKey("devices.id"), index=True)
    label: Mapped[str] = mapped_column(NAME)
    token_hash: Mapped[str] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    is_gateway: Mapped[bool] = mapped_column(Boolean, server_default=false())


class AttributeRow(Base):
    """One attribute value of a device in one scope; the key is (device, scope, key)."""

    __tablename__ = "device_attributes"

    device_id: Mapped[str] = mapped_column(ID, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class UserRow(Base):
    """A person who signs in; platform admins have no tenant."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str | None] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(NAME)
    locale: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean)


class ApiKeyRow(Base):
    """An API key, found by the digest of its secret."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean)


metadata = Base.metadata


class NotificationRuleRow(Base):
    """A notification rule; filters and the channel target are JSON (always read and written whole)."""

    __tablename__ = "notification_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[dict[str, Any]] = mapped_column(JsonType)
    site_ids: Mapped[list[str]] = mapped_column(JsonType)
    severities: Mapped[list[str]] = mapped_column(JsonType)
    alarm_types: Mapped[list[str]] = mapped_column(JsonType)
    transitions: Mapped[list[str]] = mapped_column(JsonType)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quiet_critical_passes: Mapped[bool] = mapped_column(Boolean)
    enabled: Mapped[bool] = mapped_column(Boolean)


class NotificationDeliveryRow(Base):
    """A notification not yet delivered (pending, with its next attempt time) or given up (dead letter)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_status_next_attempt_ms", "status", "next_attempt_ms"),
        Index("ix_notification_deliveries_tenant_id_created_ms", "tenant_id", "created_ms"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    rule_id: Mapped[str] = mapped_column(ID)  # no foreign key: a delivery outlives its rule's deletion
    rule_name: Mapped[str] = mapped_column(NAME)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[dict[str, Any]] = mapped_column(JsonType)
    event: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationAttemptRow(Base):
    """One delivery attempt, kept as the record of what was sent where and how it went."""

    __tablename__ = "notification_attempts"
    __table_args__ = (Index("ix_notification_attempts_tenant_id_ts_ms", "tenant_id", "ts_ms"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    delivery_id: Mapped[str] = mapped_column(ID, index=True)
    rule_id: Mapped[str] = mapped_column(ID, index=True)
    alarm_id: Mapped[str] = mapped_column(ID, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """One audit entry; rows are only ever inserted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_tenant_id_ts_ms", "tenant_id", "ts_ms"),
        Index("ix_audit_log_object_type_object_id", "object_type", "object_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    # no foreign key: the log outlives deleted tenants, users and objects
    tenant_id: Mapped[str | None] = mapped_column(ID)
    actor_id: Mapped[str] = mapped_column(ID, index=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_tenant_id: Mapped[str | None] = mapped_column(ID)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType)


class DeviceConnectivityRow(Base):
    """The last written connectivity state of a device (see services/connectivity.py)."""

    __tablename__ = "device_connectivity"

    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, index=True)
    inactivity_timeout_s: Mapped[int] = mapped_column(Integer)
    connected: Mapped[bool | None] = mapped_column(Boolean)
    active: Mapped[bool] = mapped_column(Boolean)
    last_activity_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_connected_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_disconnected_ms: Mapped[int | None] = mapped_column(BigInteger)


class ConnectivityEventRow(Base):
    """One connectivity transition; rows are only ever inserted."""

    __tablename__ = "connectivity_events"
    __table_args__ = (
        Index("ix_connectivity_events_device_id_ts_ms", "device_id", "ts_ms"),
        Index("ix_connectivity_events_ts_ms", "ts_ms"),  # retention deletes by age across devices
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    device_id: Mapped[str] = mapped_column(ID)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))


class CommandRow(Base):
    """A command (RPC) to a device; searchable fields are columns, the whole command is JSON."""

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_commands_device_id_state", "device_id", "state"),
        Index("ix_commands_state_expires_ms", "state", "expires_ms"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    device_id: Mapped[str] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)


class WorkOrderRow(Base):
    """A work order; searchable fields are columns, the whole work order is JSON."""

    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_tenant_id_created_ms", "tenant_id", "created_ms"),
        Index("ix_work_orders_state", "state"),
        Index("ix_work_orders_alarm_id", "alarm_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    asset_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    alarm_id: Mapped[str | None] = mapped_column(ID)
    assignee: Mapped[str | None] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)


class GrantRow(Base):
    """A sharing grant; the lists and details are JSON."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    grantor_tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    grantee_tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"), index=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)
