"""Device credential lookup for the broker process and the HTTP device API: one primary-key SELECT."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from openiiot.services.ports import DeviceCredential
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.tables import DeviceRow

_BY_ID = select(DeviceRow.id, DeviceRow.tenant_id, DeviceRow.token_hash, DeviceRow.disabled).where(
    DeviceRow.id == bindparam("device_id")
)


class SqlCredentialLookup:
    """Reads device credentials with its own engine, so it works in a separate process."""

    def __init__(self, database_url: str) -> None:
        self._engine = create_metadata_engine(database_url)

    def lookup(self, device_id: str) -> DeviceCredential | None:
        """The device's credential, or None when no such device exists."""
        with self._engine.connect() as connection:
            row = connection.execute(_BY_ID, {"device_id": device_id}).first()
        if row is None:
            return None
        return DeviceCredential(device_id=row[0], tenant_id=row[1], token_hash=row[2], disabled=bool(row[3]))

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()


def open_credential_lookup(database_url: str) -> SqlCredentialLookup:
    """A credential lookup on the metadata database at `database_url`."""
    return SqlCredentialLookup(database_url)
