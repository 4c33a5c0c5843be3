"""SQL repositories of devices: profiles, devices and their attributes."""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, String, cast, column, delete, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from openiiot.domain.commands import method_from_dict, method_to_dict
from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import (
    Attribute,
    AttributeScope,
    Device,
    DeviceProfile,
    KeyKind,
    TelemetryKeySpec,
)
from openiiot.storage.sql.repository_base import SqlRepository, from_row, values_of
from openiiot.storage.sql.tables import AssetRow, AttributeRow, DeviceRow, ProfileRow, TenantRow


def _profile_values(profile: DeviceProfile) -> dict[str, Any]:
    values = values_of(profile)
    values["keys"] = [{**values_of(spec), "kind": spec.kind.value} for spec in profile.keys]
    values["methods"] = [method_to_dict(m) for m in profile.methods]
    return values


def _profile(row: ProfileRow) -> DeviceProfile:
    keys = tuple(TelemetryKeySpec(**{**spec, "kind": KeyKind(spec["kind"])}) for spec in row.keys)
    return DeviceProfile(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        keys=keys,
        strict=row.strict,
        inactivity_timeout_s=row.inactivity_timeout_s,
        description=row.description,
        methods=tuple(method_from_dict(m) for m in row.methods or ()),
    )


def _check_json(attribute: Attribute) -> None:
    try:
        json.dumps(attribute.value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"attribute {attribute.key}: the value is not JSON ({exc})", field="value"
        ) from exc


class SqlProfileRepository(SqlRepository):
    """Device profiles in SQL; the key specs are one JSON column."""

    def add(self, profile: DeviceProfile) -> None:
        """Store a new profile; Conflict when its name is taken in the tenant."""
        if self._exists(ProfileRow, profile.id):
            raise Conflict(f"profile {profile.id} already exists", field="id")
        if not self._exists(TenantRow, profile.tenant_id):
            raise NotFound("tenant", profile.tenant_id)
        self._check_name(profile)
        self._session.add(ProfileRow(**_profile_values(profile)))
        self._flush()

    def get(self, tenant_id: str | None, profile_id: str) -> DeviceProfile:
        """The profile, or NotFound when it does not exist in the scope."""
        return _profile(self._scoped_get(ProfileRow, "profile", tenant_id, profile_id))

    def get_by_name(self, tenant_id: str, name: str) -> DeviceProfile:
        """The tenant's profile of that name, or NotFound."""
        stmt = select(ProfileRow).where(ProfileRow.tenant_id == tenant_id, ProfileRow.name == name)
        row = self._session.scalar(stmt)
        if row is None:
            raise NotFound("profile", name)
        return _profile(row)

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[DeviceProfile]:
        """Profiles in the scope ordered by name."""
        stmt = select(ProfileRow).order_by(ProfileRow.name, ProfileRow.id)
        if tenant_id is not None:
            stmt = stmt.where(ProfileRow.tenant_id == tenant_id)
        return [_profile(r) for r in self._page(stmt, offset, limit)]

    def update(self, profile: DeviceProfile) -> None:
        """Replace a profile, keys included; its tenant cannot change."""
        row = self._scoped_get(ProfileRow, "profile", profile.tenant_id, profile.id)
        self._check_name(profile)
        for name, value in _profile_values(profile).items():
            setattr(row, name, value)
        self._flush()

    def delete(self, tenant_id: str | None, profile_id: str) -> None:
        """Delete a profile no device uses; Conflict otherwise."""
        row = self._scoped_get(ProfileRow, "profile", tenant_id, profile_id)
        if self._session.scalar(select(exists().where(DeviceRow.profile_id == profile_id))):
            raise Conflict(f"profile {profile_id} is used by devices", field="devices")
        self._session.delete(row)
        self._flush()

    def _check_name(self, profile: DeviceProfile) -> None:
        clash = select(ProfileRow.id).where(
            ProfileRow.tenant_id == profile.tenant_id,
            ProfileRow.name == profile.name,
            ProfileRow.id != profile.id,
        )
        if self._session.scalar(clash) is not None:
            raise Conflict(f"a profile named {profile.name!r} already exists", field="name")


class SqlDeviceRepository(SqlRepository):
    """Devices in SQL."""

    def add(self, device: Device) -> None:
        """Store a new device; its profile, asset and gateway must be in its tenant."""
        if self._exists(DeviceRow, device.id):
            raise Conflict(f"device {device.id} already exists", field="id")
        self._check_references(device)
        self._session.add(DeviceRow(**values_of(device)))
        self._flush()

    def get(self, tenant_id: str | None, device_id: str) -> Device:
        """The device, or NotFound when it does not exist in the scope."""
        return from_row(Device, self._scoped_get(DeviceRow, "device", tenant_id, device_id))

    def get_by_name(self, tenant_id: str, name: str) -> Device:
        """The tenant's device of that name, or NotFound."""
        row = self._session.scalar(
            select(DeviceRow).where(DeviceRow.tenant_id == tenant_id, DeviceRow.name == name)
        )
        if row is None:
            raise NotFound("device", name)
        return from_row(Device, row)

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
    ) -> list[Device]:
        """Devices in the scope ordered by name; `search` matches name or label, ignoring case; `gateway_id`
        keeps that gateway's children."""
        stmt = select(DeviceRow).order_by(DeviceRow.name, DeviceRow.id)
        stmt = self._filtered(stmt, tenant_id, asset_id, profile_id, search, ids, gateway_id)
        return [from_row(Device, r) for r in self._page(stmt, offset, limit)]

    def count(
        self,
        tenant_id: str | None,
        *,
        asset_id: str | None = None,
        profile_id: str | None = None,
        search: str | None = None,
        ids: Collection[str] | None = None,
        gateway_id: str | None = None,
    ) -> int:
        """How many devices of the scope match the filters."""
        stmt = select(func.count()).select_from(DeviceRow)
        stmt = self._filtered(stmt, tenant_id, asset_id, profile_id, search, ids, gateway_id)
        return int(self._session.scalar(stmt) or 0)

    def _filtered(
        self,
        stmt: Select[Any],
        tenant_id: str | None,
        asset_id: str | None,
        profile_id: str | None,
        search: str | None,
        ids: Collection[str] | None,
        gateway_id: str | None = None,
    ) -> Select[Any]:
        if tenant_id is not None:
            stmt = stmt.where(DeviceRow.tenant_id == tenant_id)
        if asset_id is not None:
            stmt = stmt.where(DeviceRow.asset_id == asset_id)
        if profile_id is not None:
            stmt = stmt.where(DeviceRow.profile_id == profile_id)
        if search:
            stmt = stmt.where(
                or_(
                    DeviceRow.name.icontains(search, autoescape=True),
                    DeviceRow.label.icontains(search, autoescape=True),
                )
            )
        if ids is not None:
            stmt = stmt.where(DeviceRow.id.in_(self._id_set(ids)))
        if gateway_id is not None:
            stmt = stmt.where(DeviceRow.gateway_id == gateway_id)
        return stmt

    def _id_set(self, ids: Collection[str]) -> Any:
        """A subquery over one JSON parameter: any number of ids, no bound-parameter limit."""
        values = json.dumps(sorted(ids))
        if self._session.get_bind().dialect.name == "postgresql":
            # the text is cast, not bound as JSONB: a JSONB parameter would encode it again, as one string
            as_jsonb = cast(literal(values, String), postgresql.JSONB)
            return select(func.jsonb_array_elements_text(as_jsonb)).scalar_subquery()
        return select(column("value")).select_from(func.json_each(values)).scalar_subquery()

    def ids_of_tenant(self, tenant_id: str) -> builtins.list[str]:
        """Ids of every device of the tenant, sorted."""
        stmt = select(DeviceRow.id).where(DeviceRow.tenant_id == tenant_id).order_by(DeviceRow.id)
        return list(self._session.scalars(stmt))

    def placements(self, tenant_id: str | None) -> builtins.list[tuple[str, str, str | None, str | None]]:
        """(id, tenant, asset, gateway) of every device in the scope, in one query (fleet-wide counts)."""
        stmt = select(DeviceRow.id, DeviceRow.tenant_id, DeviceRow.asset_id, DeviceRow.gateway_id)
        if tenant_id is not None:
            stmt = stmt.where(DeviceRow.tenant_id == tenant_id)
        return [(r[0], r[1], r[2], r[3]) for r in self._session.execute(stmt)]

    def update(self, device: Device) -> None:
        """Replace a device's fields; its tenant cannot change."""
        row = self._scoped_get(DeviceRow, "device", device.tenant_id, device.id)
        self._check_references(device)
        self._replace(row, device)

    def delete(self, tenant_id: str | None, device_id: str) -> None:
        """Delete a device and its attributes; Conflict while it is the gateway of other devices."""
        row = self._scoped_get(DeviceRow, "device", tenant_id, device_id)
        if self._session.scalar(select(exists().where(DeviceRow.gateway_id == device_id))):
            raise Conflict(f"device {device_id} is the gateway of other devices", field="gateway_id")
        # explicit, not only ON DELETE CASCADE: correct even on a connection without foreign keys
        self._session.execute(delete(AttributeRow).where(AttributeRow.device_id == device_id))
        self._session.delete(row)
        self._flush()

    def _check_references(self, device: Device) -> None:
        tenant_id = device.tenant_id
        if not self._exists(TenantRow, tenant_id):
            raise NotFound("tenant", tenant_id)
        self._scoped_get(ProfileRow, "profile", tenant_id, device.profile_id)
        if device.asset_id is not None:
            self._scoped_get(AssetRow, "asset", tenant_id, device.asset_id)
        if device.gateway_id is not None:
            self._scoped_get(DeviceRow, "device", tenant_id, device.gateway_id)
        clash = select(DeviceRow.id).where(
            DeviceRow.tenant_id == tenant_id, DeviceRow.name == device.name, DeviceRow.id != device.id
        )
        if self._session.scalar(clash) is not None:
            raise Conflict(f"a device named {device.name!r} already exists", field="name")


class SqlAttributeRepository(SqlRepository):
    """Device attributes in SQL, written with one INSERT ... ON CONFLICT per batch."""

    def upsert(self, attributes: Sequence[Attribute]) -> None:
        """Insert or replace values; the last write of a (device, scope, key) wins."""
        for a in attributes:
            _check_json(a)
        latest = {(a.device_id, a.scope.value, a.key): a for a in attributes}
        if not latest:
            return
        device_ids = {device_id for device_id, _, _ in latest}
        known = set(self._session.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(device_ids))))
        for device_id in sorted(device_ids - known):
            raise NotFound("device", device_id)
        rows = [
            {"device_id": d, "scope": s, "key": k, "value": a.value, "updated_ms": a.updated_ms}
            for (d, s, k), a in latest.items()
        ]
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(AttributeRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[AttributeRow.device_id, AttributeRow.scope, AttributeRow.key],
            set_={"value": stmt.excluded.value, "updated_ms": stmt.excluded.updated_ms},
        )
        self._session.execute(stmt, rows)

    def list(self, device_id: str, scope: AttributeScope | None = None) -> list[Attribute]:
        """The device's attributes, of one scope or all, ordered by scope and key."""
        cols = (AttributeRow.scope, AttributeRow.key, AttributeRow.value, AttributeRow.updated_ms)
        # plain columns, not entities: an identity-mapped row could be older than the last upsert
        stmt = select(*cols).where(AttributeRow.device_id == device_id)
        if scope is not None:
            stmt = stmt.where(AttributeRow.scope == scope.value)
        stmt = stmt.order_by(AttributeRow.scope, AttributeRow.key)
        return [
            Attribute(device_id=device_id, scope=AttributeScope(s), key=k, value=v, updated_ms=ts)
            for s, k, v, ts in self._session.execute(stmt)
        ]

    def delete(self, device_id: str, scope: AttributeScope, key: str) -> None:
        """Remove one attribute; NotFound when it is not there."""
        stmt = delete(AttributeRow).where(
            AttributeRow.device_id == device_id, AttributeRow.scope == scope.value, AttributeRow.key == key
        )
        if self._session.execute(stmt).rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("attribute", f"{device_id}/{scope.value}/{key}")
