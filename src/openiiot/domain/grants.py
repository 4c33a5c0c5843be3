"""Sharing grants: the industry chain's data boundary.

A customer tenant (the grantor) grants an equipment maker's tenant (the grantee) access to chosen
devices — which telemetry keys, and whether alarms, commands and work orders — until an expiry time.
The maker's users then see and act on exactly that through the `/api/v1/shared/...` endpoints; the grant
is revocable at once, and every access through it is audited in the customer's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openiiot.domain.errors import ValidationFailed

MAX_DEVICES = 10_000
ALL_KEYS = "*"


class Permission(StrEnum):
    """What a grant allows beyond reading the devices' metadata."""

    TELEMETRY = "telemetry"  # the granted keys: latest values and history
    ALARMS = "alarms"  # see the devices' alarms, acknowledge and comment them
    COMMANDS = "commands"  # send the profile's commands (dangerous ones still need a customer confirmation)
    WORK_ORDERS = "work_orders"  # see and work on the devices' work orders, open new ones


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant from a customer tenant to a partner tenant."""

    id: str
    grantor_tenant_id: str
    grantee_tenant_id: str
    device_ids: tuple[str, ...]
    telemetry_keys: tuple[str, ...]  # ("*",) = every key
    permissions: tuple[Permission, ...]
    created_by: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None = None
    revoked_by: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.grantor_tenant_id == self.grantee_tenant_id:
            raise ValidationFailed("a tenant cannot grant access to itself", field="grantee_tenant_id")
        if not self.device_ids or len(self.device_ids) > MAX_DEVICES:
            raise ValidationFailed(f"grant 1-{MAX_DEVICES} devices", field="device_ids")
        if len(set(self.device_ids)) != len(self.device_ids):
            raise ValidationFailed("a device is listed twice", field="device_ids")
        try:
            object.__setattr__(self, "permissions", tuple(Permission(p) for p in self.permissions))
        except ValueError as exc:
            allowed = ", ".join(p.value for p in Permission)
            raise ValidationFailed(f"permissions are {allowed}", field="permissions") from exc
        if Permission.TELEMETRY in self.permissions and not self.telemetry_keys:
            raise ValidationFailed("name the telemetry keys, or '*' for all", field="telemetry_keys")
        if self.expires_ms <= self.created_ms:
            raise ValidationFailed("the expiry must lie in the future", field="expires_ms")

    def active(self, now_ms: int) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_ms is None and now_ms < self.expires_ms

    def covers(self, device_id: str, permission: Permission | None = None) -> bool:
        """Whether the grant names the device (and gives the permission)."""
        return device_id in self.device_ids and (permission is None or permission in self.permissions)

    def key_allowed(self, key: str) -> bool:
        """Whether a telemetry key is granted."""
        return Permission.TELEMETRY in self.permissions and (
            ALL_KEYS in self.telemetry_keys or key in self.telemetry_keys
        )
