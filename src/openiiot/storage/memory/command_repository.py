"""Dict-based command storage with the same rules as the SQL one, for the memory unit of work."""

from __future__ import annotations

import builtins

from openiiot.domain.commands import Command, CommandState
from openiiot.domain.errors import Conflict
from openiiot.storage.memory.metadata_repositories import MetadataTables, page, scoped_get

_OPEN = {CommandState.AWAITING_CONFIRMATION, CommandState.QUEUED, CommandState.SENT, CommandState.DELIVERED}


class MemoryCommandRepository:
    """Commands in the memory tables."""

    def __init__(self, tables: MetadataTables) -> None:
        self._t = tables

    def add(self, command: Command) -> None:
        """Store a new command; Conflict when its idempotency key is taken in the tenant."""
        if command.id in self._t.commands:
            raise Conflict(f"command {command.id} exists")
        if command.idempotency_key is not None and self.get_by_key(
            command.tenant_id, command.idempotency_key
        ):
            raise Conflict("the idempotency key was used before", field="idempotency_key")
        self._t.commands[command.id] = command

    def get(self, tenant_id: str | None, command_id: str) -> Command:
        """One command, or NotFound in the scope."""
        return scoped_get(self._t.commands, "command", tenant_id, command_id)

    def get_by_key(self, tenant_id: str, idempotency_key: str) -> Command | None:
        """The tenant's command with this idempotency key, if any."""
        return next(
            (
                c
                for c in self._t.commands.values()
                if c.tenant_id == tenant_id and c.idempotency_key == idempotency_key
            ),
            None,
        )

    def update(self, command: Command) -> None:
        """Replace a stored command."""
        scoped_get(self._t.commands, "command", None, command.id)
        self._t.commands[command.id] = command

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
        found = (
            c
            for c in self._t.commands.values()
            if (tenant_id is None or c.tenant_id == tenant_id)
            and (device_id is None or c.device_id == device_id)
            and (state is None or c.state is state)
        )
        return page(found, lambda c: (-c.created_ms, tuple(-ord(ch) for ch in c.id)), offset, limit)

    def queued_for(self, device_id: str) -> builtins.list[Command]:
        """The device's QUEUED commands, oldest first."""
        found = [
            c
            for c in self._t.commands.values()
            if c.device_id == device_id and c.state is CommandState.QUEUED
        ]
        return sorted(found, key=lambda c: (c.created_ms, c.id))

    def open_commands(self, limit: int = 10_000) -> builtins.list[Command]:
        """Commands not in a final state, oldest first."""
        found = sorted(
            (c for c in self._t.commands.values() if c.state in _OPEN), key=lambda c: (c.created_ms, c.id)
        )
        return found[:limit]
