"""SQL storage of commands (RPC): one row per command, its whole state as JSON, searchable columns beside."""

from __future__ import annotations

import builtins

from sqlalchemy import select

from openiiot.domain.commands import Command, CommandState, command_from_dict, command_to_dict
from openiiot.domain.errors import Conflict
from openiiot.storage.sql.repository_base import SqlRepository
from openiiot.storage.sql.tables import CommandRow

OPEN_STATES = (
    CommandState.AWAITING_CONFIRMATION.value,
    CommandState.QUEUED.value,
    CommandState.SENT.value,
    CommandState.DELIVERED.value,
)


def _values(command: Command) -> dict[str, object]:
    return {
        "id": command.id,
        "tenant_id": command.tenant_id,
        "device_id": command.device_id,
        "state": command.state.value,
        "idempotency_key": command.idempotency_key,
        "created_ms": command.created_ms,
        "expires_ms": command.expires_ms,
        "body": command_to_dict(command),
    }


class SqlCommandRepository(SqlRepository):
    """The `commands` table."""

    def add(self, command: Command) -> None:
        """Store a new command; Conflict when its idempotency key is taken in the tenant."""
        self._session.add(CommandRow(**_values(command)))
        try:
            self._flush()
        except Conflict as exc:
            raise Conflict("the idempotency key was used before", field="idempotency_key") from exc

    def get(self, tenant_id: str | None, command_id: str) -> Command:
        """One command, or NotFound in the scope."""
        return command_from_dict(self._scoped_get(CommandRow, "command", tenant_id, command_id).body)

    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Command | None:
        """The tenant's command with this idempotency key, if any."""
        row = self._session.scalars(
            select(CommandRow).where(
                CommandRow.tenant_id == tenant_id, CommandRow.idempotency_key == idempotency_key
            )
        ).first()
        return None if row is None else command_from_dict(row.body)

    def update(self, command: Command) -> None:
        """Replace a stored command."""
        row = self._scoped_get(CommandRow, "command", None, command.id)
        for name, value in _values(command).items():
            setattr(row, name, value)
        self._flush()

    def list(
        self,
        tenant_id: str | None,
        *,
        device_id: str | None = None,
        state: CommandState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> builtins.list[Command]:
        """Commands newest first."""
        stmt = select(CommandRow)
        if tenant_id is not None:
            stmt = stmt.where(CommandRow.tenant_id == tenant_id)
        if device_id is not None:
            stmt = stmt.where(CommandRow.device_id == device_id)
        if state is not None:
            stmt = stmt.where(CommandRow.state == state.value)
        stmt = stmt.order_by(CommandRow.created_ms.desc(), CommandRow.id.desc())
        return [command_from_dict(r.body) for r in self._page(stmt, offset, limit)]

    def queued_for(self, device_id: str) -> builtins.list[Command]:
        """The device's QUEUED commands, oldest first (the order they are sent in)."""
        stmt = (
            select(CommandRow)
            .where(CommandRow.device_id == device_id, CommandRow.state == CommandState.QUEUED.value)
            .order_by(CommandRow.created_ms, CommandRow.id)
        )
        return [command_from_dict(r.body) for r in self._session.scalars(stmt)]

    def open_commands(self, limit: int = 10_000) -> builtins.list[Command]:
        """Commands not in a final state, oldest first (for expiry and timeouts)."""
        stmt = (
            select(CommandRow)
            .where(CommandRow.state.in_(OPEN_STATES))
            .order_by(CommandRow.created_ms, CommandRow.id)
            .limit(limit)
        )
        return [command_from_dict(r.body) for r in self._session.scalars(stmt)]
