"""Entities of the platform: tenants, sites, assets, device profiles, devices, attributes, users."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openiiot.domain.commands import MethodSpec
from openiiot.domain.errors import ValidationFailed


class Role(StrEnum):
    """What a user may do; checked in the service layer."""

    PLATFORM_ADMIN = "platform-admin"
    TENANT_ADMIN = "tenant-admin"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    VIEWER = "viewer"
    PARTNER = "partner"


class KeyKind(StrEnum):
    """How a telemetry key behaves (Home Assistant's state classes)."""

    MEASUREMENT = "measurement"  # instantaneous value: pressure, power, temperature
    COUNTER = "counter"  # cumulative, monotonic except for meter resets and rollover: kWh, run-hours
    STATE = "state"  # enumerated code: 0 off, 1 unloaded, 2 loaded
    TEXT = "text"  # free text: firmware version, fault message


class AttributeScope(StrEnum):
    """The three attribute scopes users know from ThingsBoard."""

    CLIENT = "client"  # reported by the device
    SHARED = "shared"  # set by the platform, pushed to the device
    SERVER = "server"  # platform only


_KEY_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_REGION_RE = re.compile(r"^\d{6}$")  # GB/T 2260 county-level code
_INDUSTRY_RE = re.compile(r"^[A-T](\d{2,4})?$")  # GB/T 4754 section letter with optional division/class


def validate_key_name(key: str, field_name: str = "key") -> str:
    """Return `key` if it is a valid telemetry/attribute key name, else raise ValidationFailed."""
    if not _KEY_RE.match(key):
        raise ValidationFailed(
            f"key {key!r} must be 1-64 characters of letters, digits, '_', '.', '-'", field=field_name
        )
    return key


def validate_timezone(tz: str) -> str:
    """Return `tz` if it is a known IANA time zone, else raise ValidationFailed."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {tz!r}", field="timezone") from exc
    return tz


@dataclass(frozen=True, slots=True)
class Tenant:
    """An enterprise: the unit of isolation."""

    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    region_code: str | None = None  # GB/T 2260, to county level
    industry_code: str | None = None  # GB/T 4754
    credit_code: str | None = None  # unified social credit code, where known
    retention_days: int = 365  # raw telemetry kept this long; rollups longer

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("tenant name must not be empty", field="name")
        validate_timezone(self.timezone)
        if self.region_code is not None and not _REGION_RE.match(self.region_code):
            raise ValidationFailed("region_code must be a 6-digit GB/T 2260 code", field="region_code")
        if self.industry_code is not None and not _INDUSTRY_RE.match(self.industry_code):
            raise ValidationFailed(
                "industry_code must be a GB/T 4754 code such as 'C' or 'C3441'", field="industry_code"
            )
        if not 1 <= self.retention_days <= 36500:
            raise ValidationFailed("retention_days must be between 1 and 36500", field="retention_days")


@dataclass(frozen=True, slots=True)
class Site:
    """A plant, station or park location of a tenant."""

    id: str
    tenant_id: str
    name: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("site name must not be empty", field="name")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise ValidationFailed("latitude must be between -90 and 90", field="latitude")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise ValidationFailed("longitude must be between -180 and 180", field="longitude")


@dataclass(frozen=True, slots=True)
class Asset:
    """A node of a site's asset tree: station, line, machine; any depth."""

    id: str
    tenant_id: str
    site_id: str
    name: str
    asset_type: str = "machine"
    parent_id: str | None = None
    maintenance_mode: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("asset name must not be empty", field="name")
        if self.parent_id == self.id:
            raise ValidationFailed("an asset cannot be its own parent", field="parent_id")


@dataclass(frozen=True, slots=True)
class TelemetryKeySpec:
    """One telemetry key of a device profile: unit, kind and valid range."""

    key: str
    unit: str = ""
    kind: KeyKind = KeyKind.MEASUREMENT
    min_value: float | None = None
    max_value: float | None = None
    precision: int | None = None  # decimal places worth showing
    description: str = ""

    def __post_init__(self) -> None:
        validate_key_name(self.key)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValidationFailed(f"key {self.key}: min_value exceeds max_value", field="min_value")

    def in_range(self, value: float) -> bool:
        """True when `value` lies within the declared valid range (bounds inclusive)."""
        if self.min_value is not None and value < self.min_value:
            return False
        return not (self.max_value is not None and value > self.max_value)


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """The type of a device: its telemetry keys, inactivity timeout and whether unknown keys are refused."""

    id: str
    tenant_id: str
    name: str
    keys: tuple[TelemetryKeySpec, ...] = ()
    strict: bool = False  # strict: only declared keys are accepted
    inactivity_timeout_s: int = 600
    description: str = ""
    methods: tuple[MethodSpec, ...] = ()  # the commands (RPC) its devices accept

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("profile name must not be empty", field="name")
        method_names = [m.name for m in self.methods]
        if len(method_names) != len(set(method_names)):
            raise ValidationFailed("method names must be unique within a profile", field="methods")
        names = [k.key for k in self.keys]
        if len(names) != len(set(names)):
            raise ValidationFailed("telemetry keys must be unique within a profile", field="keys")
        if not 10 <= self.inactivity_timeout_s <= 30 * 86400:
            raise ValidationFailed(
                "inactivity_timeout_s must be between 10 s and 30 days", field="inactivity_timeout_s"
            )

    def method(self, name: str) -> MethodSpec | None:
        """The declared method `name`, or None."""
        return next((m for m in self.methods if m.name == name), None)

    def key_spec(self, key: str) -> TelemetryKeySpec | None:
        """The spec of `key`, or None when the profile does not declare it."""
        for spec in self.keys:
            if spec.key == key:
                return spec
        return None


@dataclass(frozen=True, slots=True)
class Device:
    """A connected thing. `token_hash` is the SHA-256 of its access token; the token is shown once."""

    id: str
    tenant_id: str
    name: str
    profile_id: str
    asset_id: str | None = None
    gateway_id: str | None = None
    label: str = ""
    token_hash: str = ""
    disabled: bool = False
    created_ms: int = 0
    is_gateway: bool = False  # may speak for child devices (docs/device-api.md "Gateways")

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValidationFailed("device name must not be empty", field="name")
        if self.gateway_id == self.id:
            raise ValidationFailed("a device cannot be its own gateway", field="gateway_id")


JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute value of a device in one scope."""

    device_id: str
    scope: AttributeScope
    key: str
    value: JsonValue
    updated_ms: int


@dataclass(frozen=True, slots=True)
class User:
    """A person who signs in. Platform admins have no tenant."""

    id: str
    username: str
    role: Role
    tenant_id: str | None
    password_hash: str = ""
    display_name: str = ""
    locale: str = "en"
    disabled: bool = False

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z0-9_.@\-]{3,64}$", self.username):
            raise ValidationFailed(
                "username must be 3-64 characters of letters, digits, '_', '.', '@', '-'", field="username"
            )
        if self.role is Role.PLATFORM_ADMIN and self.tenant_id is not None:
            raise ValidationFailed("a platform admin belongs to no tenant", field="tenant_id")
        if self.role is not Role.PLATFORM_ADMIN and self.tenant_id is None:
            raise ValidationFailed("every user but a platform admin belongs to a tenant", field="tenant_id")
        if self.locale not in ("en", "zh-CN"):
            raise ValidationFailed("locale must be 'en' or 'zh-CN'", field="locale")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A long-lived credential for integrations; acts with the role of its owner or a lower one."""

    id: str
    tenant_id: str | None
    user_id: str
    name: str
    key_hash: str  # SHA-256 of the secret
    role: Role
    created_ms: int
    expires_ms: int | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a JWT, an API key or a device token."""

    user_id: str
    username: str
    role: Role
    tenant_id: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    source_ip: str | None = None  # the client address of the request, for the audit log
    home_tenant_id: str | None = None  # set when acting in another tenant through a sharing grant

    @property
    def is_platform_admin(self) -> bool:
        """True for the operator of the whole platform."""
        return self.role is Role.PLATFORM_ADMIN
