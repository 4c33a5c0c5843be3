"""Attribute handlers: read any scope; set server and shared attributes (shared ones go to the device)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import Attribute, AttributeScope, JsonValue, Principal, Role, validate_key_name
from openiiot.services.audit import record
from openiiot.services.authorization import require_reader, require_role, scope_of
from openiiot.services.condition_jobs import CONFIG_ATTRIBUTE, ConditionConfig
from openiiot.services.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_KEYS_PER_WRITE = 1000

SharedAttributesCallback = Callable[[str, dict[str, JsonValue]], None]


def parse_scope(text: str) -> AttributeScope:
    """The attribute scope named in a request."""
    try:
        return AttributeScope(text)
    except ValueError as exc:
        raise ValidationFailed("scope must be client, shared or server", field="scope") from exc


class AttributeService:
    """Read and write device attributes within the caller's tenant."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, on_shared_attributes: SharedAttributesCallback
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_shared = on_shared_attributes

    def get(self, principal: Principal, device_id: str, scope: AttributeScope) -> list[Attribute]:
        """The device's attributes of one scope, ordered by key."""
        require_reader(principal)
        with self._uow() as uow:
            uow.devices.get(scope_of(principal), device_id)  # NotFound for another tenant's device
            return sorted(uow.attributes.list(device_id, scope), key=lambda a: a.key)

    def drift(self, principal: Principal, device_id: str) -> list[dict[str, Any]]:
        """Remote configuration vs what the device applied: each shared (desired) attribute beside the
        client attribute of the same key the device reported; `in_sync` when the values are equal."""
        require_reader(principal)
        with self._uow() as uow:
            uow.devices.get(scope_of(principal), device_id)
            desired = {a.key: a for a in uow.attributes.list(device_id, AttributeScope.SHARED)}
            reported = {a.key: a for a in uow.attributes.list(device_id, AttributeScope.CLIENT)}
        rows = []
        for key in sorted(desired):
            want, have = desired[key], reported.get(key)
            rows.append(
                {
                    "key": key,
                    "desired": want.value,
                    "desired_ms": want.updated_ms,
                    "reported": None if have is None else have.value,
                    "reported_ms": None if have is None else have.updated_ms,
                    "in_sync": have is not None and have.value == want.value,
                }
            )
        return rows

    def set(
        self, principal: Principal, device_id: str, scope: AttributeScope, values: Mapping[str, JsonValue]
    ) -> list[Attribute]:
        """Write server or shared attributes; shared ones are then pushed to the device."""
        require_role(principal, Role.TECHNICIAN, "writing attributes")
        if scope is AttributeScope.CLIENT:
            raise ValidationFailed(
                "client attributes are reported by the device and read-only", field="scope"
            )
        if not values:
            raise ValidationFailed("give at least one attribute", field="body")
        if len(values) > MAX_KEYS_PER_WRITE:
            raise ValidationFailed(f"at most {MAX_KEYS_PER_WRITE} attributes per request", field="body")
        for key in values:
            validate_key_name(key, field_name=key)
        if scope is AttributeScope.SERVER and CONFIG_ATTRIBUTE in values:
            # refused here, not only skipped with a log line by the job: the engineer sees the mistake at once
            ConditionConfig.from_json(values[CONFIG_ATTRIBUTE])
        now_ms = self._clock.now_ms()
        attributes = [Attribute(device_id, scope, k, v, now_ms) for k, v in values.items()]
        with self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
            uow.attributes.upsert(attributes)
            record(uow, self._clock, principal, f"attribute.set_{scope.value}", "device", device_id,
                   tenant_id=device.tenant_id, details={"values": dict(values)})  # fmt: skip
            uow.commit()
        if scope is AttributeScope.SHARED:
            self._on_shared(device_id, dict(values))
        log.info(
            "attributes set",
            extra={
                "device_id": device_id,
                "scope": scope.value,
                "keys": len(values),
                "user_id": principal.user_id,
            },
        )
        return attributes

    def delete(self, principal: Principal, device_id: str, scope: AttributeScope, key: str) -> None:
        """Remove one server or shared attribute."""
        require_role(principal, Role.TECHNICIAN, "deleting attributes")
        if scope is AttributeScope.CLIENT:
            raise ValidationFailed(
                "client attributes are reported by the device and read-only", field="scope"
            )
        with self._uow() as uow:
            uow.devices.get(scope_of(principal), device_id)
            uow.attributes.delete(device_id, scope, key)
            uow.commit()
        if scope is AttributeScope.SHARED:
            self._on_shared(device_id, {})
