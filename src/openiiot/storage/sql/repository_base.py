"""What every SQL repository shares: the session, tenant scoping, paging and conflict translation."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from openiiot.domain.errors import Conflict, NotFound, ValidationFailed

RowT = TypeVar("RowT")
DomainT = TypeVar("DomainT")

# which field a unique constraint protects; matched against the driver's error text (SQLite names the
# columns, PostgreSQL the constraint)
_UNIQUE_FIELDS = (
    ("uq_devices_tenant_id_name", "name"),
    ("devices.name", "name"),
    ("uq_device_profiles_tenant_id_name", "name"),
    ("device_profiles.name", "name"),
    ("uq_users_username", "username"),
    ("users.username", "username"),
    ("uq_api_keys_key_hash", "key_hash"),
    ("api_keys.key_hash", "key_hash"),
)


def values_of(obj: Any) -> dict[str, Any]:
    """The fields of a domain dataclass by name; our columns are named like them."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def from_row(cls: type[DomainT], row: object) -> DomainT:
    """A domain object built from the same-named attributes of a row (a plain copy: no ORM state leaks)."""
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


def check_page(offset: int, limit: int) -> None:
    """Refuse negative paging arguments with an error that names the field."""
    if offset < 0:
        raise ValidationFailed("offset must not be negative", field="offset")
    if limit < 0:
        raise ValidationFailed("limit must not be negative", field="limit")


def conflict_from(exc: IntegrityError) -> Conflict:
    """Our Conflict for a constraint violation the pre-checks did not see coming (a concurrent writer)."""
    text = str(exc.orig)
    for marker, field in _UNIQUE_FIELDS:
        if marker in text:
            return Conflict(f"{field} is already taken", field=field)
    return Conflict(f"the change violates a database constraint: {text}")


class SqlRepository:
    """Base of the SQL repositories: one Session per unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _flush(self) -> None:
        # flush now so that a constraint violation surfaces at the call that caused it
        try:
            self._session.flush()
        except IntegrityError as exc:
            raise conflict_from(exc) from exc
        except StaleDataError as exc:  # a versioned row changed since it was read (decision 0007)
            raise Conflict(f"changed by another process: {exc}") from exc

    def _scoped_get(self, model: type[RowT], kind: str, tenant_id: str | None, ident: str) -> RowT:
        row = self._session.get(model, ident)
        if row is None or (tenant_id is not None and row.tenant_id != tenant_id):  # type: ignore[attr-defined]
            raise NotFound(kind, ident)
        return row

    def _replace(self, row: object, obj: object) -> None:
        for name, value in values_of(obj).items():
            setattr(row, name, value)
        self._flush()

    def _exists(self, model: type[Any], ident: str) -> bool:
        return self._session.get(model, ident) is not None

    def _page(self, stmt: Select[RowT], offset: int, limit: int) -> list[RowT]:
        check_page(offset, limit)
        return list(self._session.scalars(stmt.offset(offset).limit(limit)))
