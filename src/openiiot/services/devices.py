"""Device handlers: CRUD, search and paging, access tokens shown once and rotated, disable and enable."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from openiiot.domain.credentials import generate_token, hash_token, new_id
from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import AttributeScope, Device, Principal, Role
from openiiot.services.audit import record
from openiiot.services.authorization import require_reader, require_role, scope_of, target_tenant
from openiiot.services.changes import apply_changes
from openiiot.services.ports import (
    BrokerAccounts,
    Clock,
    TelemetryStore,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

DEVICE_FIELDS = frozenset({"name", "label", "profile_id", "asset_id", "gateway_id", "is_gateway", "disabled"})
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ProvisionedDevice:
    """A device with its access token, which is shown this once and stored only as a digest."""

    device: Device
    access_token: str


@dataclass(frozen=True, slots=True)
class DevicePage:
    """One page of a device search and the number of devices matching it."""

    items: list[Device]
    total: int


def check_references(uow: UnitOfWork, device: Device) -> None:
    """Profile, asset and gateway must exist in the device's own tenant; the field is named otherwise."""
    refs = (
        ("profile_id", device.profile_id, uow.profiles.get),
        ("asset_id", device.asset_id, uow.assets.get),
        ("gateway_id", device.gateway_id, uow.devices.get),
    )
    for field, ident, getter in refs:
        if ident is None:
            continue
        try:
            getter(device.tenant_id, ident)
        except NotFound as exc:
            raise ValidationFailed(f"unknown {field.removesuffix('_id')} {ident}", field=field) from exc
    if device.gateway_id is not None and not uow.devices.get(device.tenant_id, device.gateway_id).is_gateway:
        raise ValidationFailed(
            f"device {device.gateway_id} is not a gateway (set its is_gateway first)", field="gateway_id"
        )


def check_unique_name(uow: UnitOfWork, tenant_id: str, name: str) -> None:
    """Device names are unique within a tenant."""
    try:
        uow.devices.get_by_name(tenant_id, name)
    except NotFound:
        return
    raise Conflict(f"a device named {name!r} exists", field="name")


class DeviceService:
    """Create, find, change and delete devices, and manage their access tokens."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telemetry: TelemetryStore,
        clock: Clock,
        on_device_changed: Callable[[str], None],
        broker: BrokerAccounts | None = None,
    ) -> None:
        self._uow = uow
        self._telemetry = telemetry
        self._clock = clock
        self._on_device_changed = on_device_changed
        self._broker = broker  # an external broker's device accounts; None with the embedded broker

    def create(
        self, principal: Principal, values: Mapping[str, Any], tenant_id: str | None = None
    ) -> ProvisionedDevice:
        """Create a device and return its access token (shown once)."""
        require_role(principal, Role.TENANT_ADMIN, "creating devices")
        owner = target_tenant(principal, tenant_id)
        token = generate_token()
        fields = {k: v for k, v in values.items() if k in DEVICE_FIELDS}
        device = Device(
            id=new_id(),
            tenant_id=owner,
            token_hash=hash_token(token),
            created_ms=self._clock.now_ms(),
            **fields,
        )
        with self._uow() as uow:
            uow.tenants.get(owner)
            check_unique_name(uow, owner, device.name)
            check_references(uow, device)
            uow.devices.add(device)
            record(
                uow,
                self._clock,
                principal,
                "device.create",
                "device",
                device.id,
                tenant_id=owner,
                details={
                    "name": device.name,
                    "profile_id": device.profile_id,
                    "is_gateway": device.is_gateway,
                },
            )
            if self._broker is not None:
                self._broker.devices_created([(device.id, token, device.disabled)])
            uow.commit()
        log.info("device created", extra={"device_id": device.id, "user_id": principal.user_id})
        return ProvisionedDevice(device=device, access_token=token)

    def get(self, principal: Principal, device_id: str) -> Device:
        """One device of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.devices.get(scope_of(principal), device_id)

    def search(
        self,
        principal: Principal,
        *,
        search: str | None = None,
        profile_id: str | None = None,
        asset_id: str | None = None,
        gateway_id: str | None = None,
        ids: Collection[str] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> DevicePage:
        """A page of the caller's devices matching the filters, and how many match in all.

        `ids` narrows the search to those devices (e.g. the ones the connectivity service reports in one
        status); any number of ids is fine.
        """
        require_reader(principal)
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if offset < 0:
            raise ValidationFailed("offset must not be negative", field="offset")
        scope = scope_of(principal)
        filters: dict[str, Any] = {
            "search": search,
            "profile_id": profile_id,
            "asset_id": asset_id,
            "gateway_id": gateway_id,
            "ids": ids,
        }
        with self._uow() as uow:
            items = uow.devices.list(scope, offset=offset, limit=limit, **filters)
            return DevicePage(items=items, total=uow.devices.count(scope, **filters))

    def update(self, principal: Principal, device_id: str, changes: Mapping[str, Any]) -> Device:
        """Rename, relabel, move to another asset or profile, make it a gateway or not, disable, enable."""
        require_role(principal, Role.TENANT_ADMIN, "changing devices")
        with self._uow() as uow:
            current = uow.devices.get(scope_of(principal), device_id)
            device = apply_changes(current, changes, DEVICE_FIELDS)
            if device.name != current.name:
                check_unique_name(uow, device.tenant_id, device.name)
            check_references(uow, device)
            if current.is_gateway and not device.is_gateway and uow.devices.count(None, gateway_id=device_id):
                raise Conflict(
                    f"device {device_id} is the gateway of other devices; move or delete them first",
                    field="is_gateway",
                )
            uow.devices.update(device)
            changed = {k: getattr(device, k) for k in changes if k in DEVICE_FIELDS}
            action = "device.update"
            if set(changed) == {"disabled"}:
                action = "device.disable" if device.disabled else "device.enable"
            record(
                uow,
                self._clock,
                principal,
                action,
                "device",
                device_id,
                tenant_id=device.tenant_id,
                details=changed,
            )
            if self._broker is not None and device.disabled != current.disabled:
                self._broker.device_disabled(device_id, device.disabled)
            uow.commit()
        self._on_device_changed(device_id)
        return device

    def set_disabled(self, principal: Principal, device_id: str, disabled: bool) -> Device:
        """Disable a device (its connections and data are refused) or enable it again."""
        device = self.update(principal, device_id, {"disabled": disabled})
        log.info("device disabled" if disabled else "device enabled", extra={"device_id": device_id})
        return device

    def rotate_credentials(self, principal: Principal, device_id: str) -> str:
        """Issue a new access token; the old one stops working at once."""
        require_role(principal, Role.TENANT_ADMIN, "rotating device credentials")
        token = generate_token()
        with self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
            uow.devices.update(
                apply_changes(device, {"token_hash": hash_token(token)}, frozenset({"token_hash"}))
            )
            record(
                uow,
                self._clock,
                principal,
                "device.rotate_credentials",
                "device",
                device_id,
                tenant_id=device.tenant_id,
            )
            if self._broker is not None:
                # also recreates a lost broker account (`openiiot broker sync` reports those)
                self._broker.device_credentials_set([(device_id, token, device.disabled)])
            uow.commit()
        self._on_device_changed(device_id)
        log.warning(
            "device credentials rotated", extra={"device_id": device_id, "user_id": principal.user_id}
        )
        return token

    def delete(self, principal: Principal, device_id: str) -> None:
        """Delete a device with its attributes and telemetry."""
        require_role(principal, Role.TENANT_ADMIN, "deleting devices")
        with self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
            record(
                uow,
                self._clock,
                principal,
                "device.delete",
                "device",
                device_id,
                tenant_id=device.tenant_id,
                details={"name": device.name},
            )
            # a gateway with child devices is refused by the repository's foreign key (Conflict)
            for attribute in uow.attributes.list(device_id):
                uow.attributes.delete(device_id, AttributeScope(attribute.scope), attribute.key)
            uow.devices.delete(scope_of(principal), device_id)
            if self._broker is not None:
                self._broker.device_deleted(device_id)
            uow.commit()
        self._telemetry.delete_device(device_id)
        self._on_device_changed(device_id)
        log.info("device deleted", extra={"device_id": device_id, "user_id": principal.user_id})
