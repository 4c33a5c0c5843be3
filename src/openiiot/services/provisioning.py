"""Bulk device provisioning from CSV (`name,profile,label,asset,gateway`): valid rows are created, others
reported. `gateway` (optional) is `true`/`yes`/`1` for a device that speaks for child devices.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first device row 2.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from openiiot.domain.credentials import generate_token, hash_token, new_id
from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.domain.model import Device, Principal, Role
from openiiot.services.authorization import require_role, target_tenant
from openiiot.services.ports import BrokerAccounts, Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_ROWS = 10_000
MAX_FILE_BYTES = 2 * 1024 * 1024  # 10,000 rows of generous width
REQUIRED_COLUMNS = ("name", "profile")
OPTIONAL_COLUMNS = ("label", "asset", "gateway")
_FLAG = {"": False, "false": False, "no": False, "0": False, "true": True, "yes": True, "1": True}
MAX_NAME_CHARS = 200
_PAGE = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CreatedRow:
    """A row that became a device; the access token is shown this once."""

    row: int
    device_id: str
    name: str
    access_token: str


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: which row, which column, and why."""

    row: int
    field: str
    reason: str


@dataclass(slots=True)
class ProvisioningReport:
    """What a bulk upload did, row by row."""

    created: list[CreatedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class _RowRejectedError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _is_garbled(text: str) -> bool:
    # bytes that are not UTF-8 survive decoding as lone surrogates (errors="surrogateescape")
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def parse_csv(data: bytes) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The column positions and the numbered non-empty data rows; file-level faults raise ValidationFailed."""
    if len(data) > MAX_FILE_BYTES:
        raise ValidationFailed(f"the file is larger than {MAX_FILE_BYTES} bytes", field="file")
    text = data.decode("utf-8-sig", errors="surrogateescape")  # -sig: Excel writes a byte-order mark
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationFailed(f"the file is not valid CSV: {exc}", field="file") from exc
    if not records:
        raise ValidationFailed("the file is empty; the first row must name the columns", field="file")
    header = [h.strip().lower() for h in records[0]]
    if any(_is_garbled(h) for h in header):
        raise ValidationFailed("the header row is not valid UTF-8", field="file")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise ValidationFailed(f"the header row lacks the column {column!r}", field=column)
    columns = {name: header.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in header}
    rows = [(number, rec) for number, rec in enumerate(records[1:], start=2) if any(c.strip() for c in rec)]
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(
            f"the file has {len(rows)} device rows; at most {MAX_ROWS} per file", field="file"
        )
    return columns, rows


def _load_all(fetch: Callable[[int], list[T]]) -> list[T]:
    items: list[T] = []
    while True:
        page = fetch(len(items))
        items.extend(page)
        if len(page) < _PAGE:
            return items


class _Lookups:
    """Profiles and assets of one tenant by id and by name."""

    def __init__(self, uow: UnitOfWork, tenant_id: str) -> None:
        profiles = _load_all(lambda offset: uow.profiles.list(tenant_id, offset=offset, limit=_PAGE))
        assets = _load_all(lambda offset: uow.assets.list(tenant_id, offset=offset, limit=_PAGE))
        self.profiles: dict[str, str] = {p.name: p.id for p in profiles}
        self.assets: dict[str, str | None] = {}  # None: the name is shared by several assets
        for a in assets:
            self.assets[a.name] = None if a.name in self.assets else a.id
        self.profile_ids = {p.id for p in profiles}
        self.asset_ids = {a.id for a in assets}

    def profile(self, ref: str) -> str:
        if ref in self.profile_ids:
            return ref
        if ref in self.profiles:
            return self.profiles[ref]
        raise _RowRejectedError("profile", f"unknown profile {ref!r}")

    def asset(self, ref: str) -> str:
        if ref in self.asset_ids:
            return ref
        if ref not in self.assets:
            raise _RowRejectedError("asset", f"unknown asset {ref!r}")
        found = self.assets[ref]
        if found is None:
            raise _RowRejectedError("asset", f"several assets are named {ref!r}; give the asset id")
        return found


class ProvisioningService:
    """Creates many devices from one CSV upload."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        on_device_changed: Callable[[str], None],
        broker: BrokerAccounts | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_device_changed = on_device_changed
        self._broker = broker

    def provision_csv(
        self, principal: Principal, data: bytes, tenant_id: str | None = None
    ) -> ProvisioningReport:
        """Create a device for every valid row; report every other row with its field and reason."""
        require_role(principal, Role.TENANT_ADMIN, "provisioning devices")
        owner = target_tenant(principal, tenant_id)
        columns, rows = parse_csv(data)
        report = ProvisioningReport()
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            uow.tenants.get(owner)
            lookups = _Lookups(uow, owner)
            seen: set[str] = set()
            new_devices: list[tuple[int, Device, str]] = []
            for number, record in rows:
                try:
                    device = self._device_from_row(uow, lookups, owner, columns, record, seen, now_ms)
                except _RowRejectedError as exc:
                    report.errors.append(RowError(number, exc.field, exc.reason))
                    continue
                token = generate_token()
                device = replace(device, token_hash=hash_token(token))
                new_devices.append((number, device, token))
            for number, device, token in new_devices:
                uow.devices.add(device)
                report.created.append(CreatedRow(number, device.id, device.name, token))
            if self._broker is not None and new_devices:
                self._broker.devices_created([(d.id, t, d.disabled) for _, d, t in new_devices])
            uow.commit()
        for _, device, _ in new_devices:
            self._on_device_changed(device.id)
        log.info(
            "bulk provisioning",
            extra={
                "tenant_id": owner,
                "devices_created": len(report.created),
                "rows_rejected": len(report.errors),
            },
        )
        return report

    @staticmethod
    def _device_from_row(
        uow: UnitOfWork,
        lookups: _Lookups,
        tenant_id: str,
        columns: dict[str, int],
        record: list[str],
        seen: set[str],
        now_ms: int,
    ) -> Device:
        cells: dict[str, str] = {}
        for column, position in columns.items():
            value = record[position].strip() if position < len(record) else ""
            if _is_garbled(value):
                raise _RowRejectedError(column, "not valid UTF-8 text")
            cells[column] = value
        name = cells["name"]
        if not name:
            raise _RowRejectedError("name", "missing name")
        if len(name) > MAX_NAME_CHARS:
            raise _RowRejectedError("name", f"name longer than {MAX_NAME_CHARS} characters")
        if not cells["profile"]:
            raise _RowRejectedError("profile", "missing profile")
        profile_id = lookups.profile(cells["profile"])
        asset_id = lookups.asset(cells["asset"]) if cells.get("asset") else None
        is_gateway = _FLAG.get(cells.get("gateway", "").lower())
        if is_gateway is None:
            raise _RowRejectedError("gateway", "gateway must be true or false (or empty)")
        if name in seen:
            raise _RowRejectedError("name", f"duplicate name {name!r} (earlier in the file)")
        try:
            uow.devices.get_by_name(tenant_id, name)
        except NotFound:
            pass
        else:
            raise _RowRejectedError("name", f"duplicate name {name!r} (a device with this name exists)")
        try:
            device = Device(
                id=new_id(),
                tenant_id=tenant_id,
                name=name,
                profile_id=profile_id,
                asset_id=asset_id,
                label=cells.get("label", ""),
                created_ms=now_ms,
                is_gateway=is_gateway,
            )
        except ValidationFailed as exc:
            raise _RowRejectedError(exc.field or "name", str(exc)) from exc
        seen.add(name)
        return device
