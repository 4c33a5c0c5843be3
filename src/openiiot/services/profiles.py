"""Device profile handlers: the telemetry keys (unit, kind, range, precision) of a type of device."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from openiiot.domain.commands import MethodSpec, method_from_dict
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import DeviceProfile, KeyKind, Principal, Role, TelemetryKeySpec
from openiiot.services.authorization import require_reader, require_role, scope_of, target_tenant
from openiiot.services.changes import apply_changes
from openiiot.services.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

PROFILE_FIELDS = frozenset({"name", "keys", "strict", "inactivity_timeout_s", "description", "methods"})
_PAGE = 1000


def key_specs(keys: Sequence[Mapping[str, Any]]) -> tuple[TelemetryKeySpec, ...]:
    """Telemetry key specs from plain mappings (as they arrive from the API)."""
    specs = []
    for index, raw in enumerate(keys):
        values = dict(raw)
        try:
            values["kind"] = KeyKind(values.get("kind", KeyKind.MEASUREMENT))
        except ValueError as exc:
            raise ValidationFailed(
                f"unknown kind {values.get('kind')!r}", field=f"keys.{index}.kind"
            ) from exc
        specs.append(TelemetryKeySpec(**values))
    return tuple(specs)


def method_specs(methods: Sequence[Mapping[str, Any]]) -> tuple[MethodSpec, ...]:
    """Method specs from plain mappings; an error names the method's place, e.g. `methods.0.params.1.min`."""
    specs = []
    for index, raw in enumerate(methods):
        try:
            specs.append(method_from_dict(raw))
        except ValidationFailed as exc:
            raise ValidationFailed(str(exc), field=f"methods.{index}.{exc.field or 'name'}") from exc
        except TypeError as exc:
            raise ValidationFailed(f"method {index}: {exc}", field=f"methods.{index}") from exc
    return tuple(specs)


def device_ids_with_profile(uow: UnitOfWork, tenant_id: str, profile_id: str) -> list[str]:
    """Every device id of a profile, read page by page."""
    ids: list[str] = []
    while True:
        page = uow.devices.list(tenant_id, profile_id=profile_id, offset=len(ids), limit=_PAGE)
        ids.extend(d.id for d in page)
        if len(page) < _PAGE:
            return ids


class ProfileService:
    """Create, read, update and delete device profiles."""

    def __init__(self, uow: UnitOfWorkFactory, on_device_changed: Callable[[str], None]) -> None:
        self._uow = uow
        self._on_device_changed = on_device_changed

    def create(
        self, principal: Principal, values: Mapping[str, Any], tenant_id: str | None = None
    ) -> DeviceProfile:
        """Create a profile; names are unique within a tenant."""
        require_role(principal, Role.TENANT_ADMIN, "creating device profiles")
        owner = target_tenant(principal, tenant_id)
        fields = {k: v for k, v in values.items() if k in PROFILE_FIELDS}
        fields["keys"] = key_specs(fields.get("keys", ()))
        fields["methods"] = method_specs(fields.get("methods", ()))
        profile = DeviceProfile(id=new_id(), tenant_id=owner, **fields)
        with self._uow() as uow:
            uow.tenants.get(owner)
            self._check_unique_name(uow, profile)
            uow.profiles.add(profile)
            uow.commit()
        return profile

    def get(self, principal: Principal, profile_id: str) -> DeviceProfile:
        """One profile of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.profiles.get(scope_of(principal), profile_id)

    def list(self, principal: Principal, *, offset: int = 0, limit: int = 100) -> list[DeviceProfile]:
        """Profiles of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.profiles.list(scope_of(principal), offset=offset, limit=limit)

    def update(self, principal: Principal, profile_id: str, changes: Mapping[str, Any]) -> DeviceProfile:
        """Change a profile; devices using it see the change at once (their cache entries are dropped)."""
        require_role(principal, Role.TENANT_ADMIN, "changing device profiles")
        values = dict(changes)
        if "keys" in values:
            values["keys"] = key_specs(values["keys"])
        if "methods" in values:
            values["methods"] = method_specs(values["methods"])
        with self._uow() as uow:
            current = uow.profiles.get(scope_of(principal), profile_id)
            profile = apply_changes(current, values, PROFILE_FIELDS)
            if profile.name != current.name:
                self._check_unique_name(uow, profile)
            uow.profiles.update(profile)
            uow.commit()
            affected = device_ids_with_profile(uow, profile.tenant_id, profile.id)
        for device_id in affected:
            self._on_device_changed(device_id)
        return profile

    def delete(self, principal: Principal, profile_id: str) -> None:
        """Delete a profile no device uses."""
        require_role(principal, Role.TENANT_ADMIN, "deleting device profiles")
        with self._uow() as uow:
            profile = uow.profiles.get(scope_of(principal), profile_id)
            if uow.devices.list(profile.tenant_id, profile_id=profile_id, limit=1):
                raise Conflict("devices still use this profile")
            uow.profiles.delete(scope_of(principal), profile_id)
            uow.commit()

    @staticmethod
    def _check_unique_name(uow: UnitOfWork, profile: DeviceProfile) -> None:
        try:
            uow.profiles.get_by_name(profile.tenant_id, profile.name)
        except NotFound:
            return
        raise Conflict(f"a profile named {profile.name!r} exists", field="name")
