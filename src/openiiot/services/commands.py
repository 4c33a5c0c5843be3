"""Commands (RPC) to devices: request, confirm, send, track to the end (docs/commands.md).

A command is stored before anything is sent, so it survives a restart and an offline device: it is sent
when the device's MQTT session opens (or when the device polls over HTTP), retried when the device goes
away before acknowledging it, and ends SUCCEEDED, FAILED, TIMED_OUT, EXPIRED or CANCELLED. The same
idempotency key never creates a second command. Every request, confirmation and cancellation is audited.

One process sends commands (the one that runs ingest and the MQTT consumer); its lock serialises the
read-modify-write of a command, so a response and a timeout never both win.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from openiiot.domain.commands import Command, CommandState, CommandStep
from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from openiiot.domain.model import Principal, Role
from openiiot.services.audit import record
from openiiot.services.authorization import require_reader, require_role, scope_of
from openiiot.services.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_S = 3600
MAX_EXPIRY_S = 7 * 86400
MAX_KEY_CHARS = 200
PLATFORM = "platform"

#: publishes one command request to a device: (device id, command id, JSON payload)
Sender = Callable[[str, str, bytes], None]


class CommandService:
    """Request, confirm, cancel and read commands; drive them with broker and device events."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        is_connected: Callable[[str], bool] = lambda _device_id: False,
        sender: Sender | None = None,
        on_answer: Callable[[str, int], None] | None = None,
    ) -> None:
        self._uow = uow
        self._on_answer = on_answer  # (device id, receive time ms): an answer is activity of the device
        self._clock = clock
        self._is_connected = is_connected
        self._sender = sender
        self._lock = threading.RLock()
        self._queued = threading.Condition(self._lock)  # wakes HTTP long-polls

    def attach_sender(self, sender: Sender | None, is_connected: Callable[[str], bool]) -> None:
        """Connect the MQTT side once the platform's publisher exists."""
        self._sender, self._is_connected = sender, is_connected

    # --- users -----------------------------------------------------------------------------------------

    def request(
        self,
        principal: Principal,
        device_id: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        expires_in_s: int = DEFAULT_EXPIRY_S,
    ) -> tuple[Command, bool]:
        """Store a command (checked against the profile's method) and send it if the device is online.

        Returns the command and whether it was created now (False: a replay of the same idempotency key).
        """
        require_role(principal, Role.TECHNICIAN, "sending commands")
        if not 1 <= expires_in_s <= MAX_EXPIRY_S:
            raise ValidationFailed(f"expires_in_s must be between 1 and {MAX_EXPIRY_S}", field="expires_in_s")
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_CHARS:
            raise ValidationFailed(
                f"idempotency_key must be 1-{MAX_KEY_CHARS} characters", field="idempotency_key"
            )
        now_ms = self._clock.now_ms()
        with self._lock, self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
            profile = uow.profiles.get(device.tenant_id, device.profile_id)
            spec = profile.method(method)
            if spec is None:
                declared = ", ".join(m.name for m in profile.methods) or "none"
                raise ValidationFailed(
                    f"profile {profile.name!r} declares no method {method!r} (declared: {declared})",
                    field="method",
                )
            checked = spec.validated(params or {})
            if idempotency_key is not None:
                existing = uow.commands.get_by_key(device.tenant_id, idempotency_key)
                if existing is not None:
                    if not existing.same_request(device.id, method, checked):
                        raise Conflict(
                            "this idempotency key was used for a different command", field="idempotency_key"
                        )
                    return existing, False
            if device.disabled:
                raise Conflict("the device is disabled; enable it before sending commands", field="device_id")
            initial = CommandState.AWAITING_CONFIRMATION if spec.dangerous else CommandState.QUEUED
            command = Command(
                id=new_id(),
                tenant_id=device.tenant_id,
                device_id=device.id,
                method=method,
                params=checked,
                two_way=spec.two_way,
                dangerous=spec.dangerous,
                state=initial,
                requested_by=principal.username,
                created_ms=now_ms,
                expires_ms=now_ms + expires_in_s * 1000,
                timeout_s=spec.timeout_s,
                idempotency_key=idempotency_key,
                history=(CommandStep(now_ms, initial, principal.username),),
            )
            uow.commands.add(command)
            record(
                uow,
                self._clock,
                principal,
                "command.request",
                "command",
                command.id,
                tenant_id=command.tenant_id,
                details={"device_id": device.id, "method": method, "params": checked, "state": initial.value},
            )
            uow.commit()
            self._queued.notify_all()
        if initial is CommandState.QUEUED:
            self.dispatch(device.id)
        return self.get(principal, command.id), True

    def confirm(self, principal: Principal, command_id: str) -> Command:
        """The second step of a dangerous command, by another user allowed to confirm."""
        require_role(principal, Role.OPERATOR, "confirming dangerous commands")
        with self._lock, self._uow() as uow:
            command = uow.commands.get(scope_of(principal), command_id)
            if command.state is not CommandState.AWAITING_CONFIRMATION:
                raise Conflict(
                    f"the command is {command.state.value}, not awaiting confirmation", field="state"
                )
            if command.requested_by == principal.username:
                record(
                    uow, self._clock, principal, "command.confirm", "command", command.id,
                    tenant_id=command.tenant_id, outcome="denied", details={"reason": "requester"},
                )  # fmt: skip
                uow.commit()
                raise PermissionDenied("the user who requested a dangerous command cannot confirm it")
            now_ms = self._clock.now_ms()
            if now_ms >= command.expires_ms:
                raise Conflict("the command expired before it was confirmed", field="state")
            confirmed = command.to(
                CommandState.QUEUED, now_ms, principal.username, "confirmed", confirmed_by=principal.username
            )
            uow.commands.update(confirmed)
            record(
                uow, self._clock, principal, "command.confirm", "command", command.id,
                tenant_id=command.tenant_id, details=_what(command),
            )  # fmt: skip
            uow.commit()
            self._queued.notify_all()
        self.dispatch(confirmed.device_id)
        return self.get(principal, command_id)

    def cancel(self, principal: Principal, command_id: str) -> Command:
        """Cancel a command not yet sent."""
        require_role(principal, Role.TECHNICIAN, "cancelling commands")
        with self._lock, self._uow() as uow:
            command = uow.commands.get(scope_of(principal), command_id)
            cancelled = command.to(
                CommandState.CANCELLED, self._clock.now_ms(), principal.username, "cancelled"
            )
            uow.commands.update(cancelled)
            record(
                uow, self._clock, principal, "command.cancel", "command", command.id,
                tenant_id=command.tenant_id, details=_what(command),
            )  # fmt: skip
            uow.commit()
        return cancelled

    def get(self, principal: Principal, command_id: str) -> Command:
        """One command of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.commands.get(scope_of(principal), command_id)

    def list(
        self,
        principal: Principal,
        *,
        device_id: str | None = None,
        state: CommandState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Command]:
        """Commands of the caller's tenant, newest first."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.commands.list(
                scope_of(principal), device_id=device_id, state=state, offset=offset, limit=limit
            )

    # --- the MQTT side ---------------------------------------------------------------------------------

    def dispatch(self, device_id: str) -> int:
        """Send the device's queued commands, oldest first, if it has an MQTT session; returns how many."""
        if self._sender is None or not self._is_connected(device_id):
            return 0
        sent = 0
        with self._lock:
            with self._uow() as uow:
                queued = uow.commands.queued_for(device_id)
            for command in queued:
                now_ms = self._clock.now_ms()
                if now_ms >= command.expires_ms:
                    continue  # the tick expires it
                payload = orjson.dumps({"method": command.method, "params": dict(command.params)})
                outgoing = command.to(
                    CommandState.SENT, now_ms, PLATFORM, f"attempt {command.attempts + 1}",
                    attempts=command.attempts + 1, sent_ms=now_ms,
                )  # fmt: skip
                self._save(outgoing)
                try:
                    self._sender(device_id, command.id, payload)
                except Exception as exc:
                    log.warning(
                        "sending a command failed", extra={"command_id": command.id, "error": str(exc)}
                    )
                    self._save(outgoing.to(CommandState.QUEUED, now_ms, PLATFORM, f"send failed: {exc}"))
                    continue
                sent += 1
        return sent

    def on_delivered(self, device_id: str, command_id: str) -> None:
        """The device acknowledged the request (MQTT PUBACK)."""
        with self._lock:
            command = self._find(device_id, command_id)
            if command is None or command.state is not CommandState.SENT:
                return
            now_ms = self._clock.now_ms()
            delivered = command.to(CommandState.DELIVERED, now_ms, device_id, "acknowledged by the device")
            if not command.two_way:
                delivered = delivered.to(
                    CommandState.SUCCEEDED, now_ms, device_id, "one-way: delivered is done"
                )
            self._save(delivered)

    def on_response(self, device_id: str, command_id: str, payload: bytes) -> bool:
        """The device answered: `{"result": ...}`, `{"error": "..."}` or any JSON value (the result).

        False when the device has no such command (an unknown id, or another device's)."""
        if self._on_answer is not None:
            try:
                self._on_answer(device_id, self._clock.now_ms())
            except Exception:
                log.exception("recording a command answer as activity failed", extra={"device_id": device_id})
        try:
            body = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            body = {"error": "the device answered with invalid JSON"}
        with self._lock:
            command = self._find(device_id, command_id)
            if command is None:
                return False
            if command.state not in (CommandState.SENT, CommandState.DELIVERED):
                log.info(
                    "late command response ignored", extra={"command_id": command_id, "state": command.state}
                )
                return True
            now_ms = self._clock.now_ms()
            if command.state is CommandState.SENT:  # the answer overtook the delivery report: it arrived
                command = command.to(CommandState.DELIVERED, now_ms, device_id, "answered, so delivered")
            if isinstance(body, dict) and "error" in body:
                done = command.to(
                    CommandState.FAILED,
                    now_ms,
                    device_id,
                    "device reported an error",
                    error=str(body["error"])[:2000],
                )
            else:
                result = body.get("result", body) if isinstance(body, dict) else body
                done = command.to(CommandState.SUCCEEDED, now_ms, device_id, "answered", result=result)
            self._save(done)
            return True

    def on_session_opened(self, device_id: str) -> None:
        """Deliver on reconnect."""
        self.dispatch(device_id)

    def on_session_closed(self, device_id: str) -> None:
        """Commands sent but not acknowledged go back to the queue (or fail after max_attempts)."""
        with self._lock:
            with self._uow() as uow:
                sent = uow.commands.list(None, device_id=device_id, state=CommandState.SENT, limit=1000)
            now_ms = self._clock.now_ms()
            for command in sent:
                if command.attempts >= command.max_attempts:
                    note = f"the device went away before acknowledging, {command.attempts} times"
                    self._save(command.to(CommandState.FAILED, now_ms, PLATFORM, note, error=note))
                else:
                    self._save(
                        command.to(CommandState.QUEUED, now_ms, PLATFORM, "device went away; will retry")
                    )

    def tick(self) -> int:
        """Expire and time out what is due, and send what waits for online devices; returns changes."""
        now_ms = self._clock.now_ms()
        changed = 0
        waiting: set[str] = set()
        with self._lock:
            with self._uow() as uow:
                open_commands = uow.commands.open_commands()
            for command in open_commands:
                if (
                    command.state
                    in (CommandState.AWAITING_CONFIRMATION, CommandState.QUEUED, CommandState.SENT)
                    and now_ms >= command.expires_ms
                ):
                    self._save(command.to(CommandState.EXPIRED, now_ms, PLATFORM, "expired before delivery"))
                    changed += 1
                elif (
                    command.state in (CommandState.SENT, CommandState.DELIVERED)
                    and command.two_way
                    and command.sent_ms is not None
                    and now_ms >= command.sent_ms + command.timeout_s * 1000
                ):
                    note = f"no answer within {command.timeout_s} s"
                    self._save(command.to(CommandState.TIMED_OUT, now_ms, PLATFORM, note, error=note))
                    changed += 1
                elif command.state is CommandState.QUEUED:
                    waiting.add(command.device_id)
        for device_id in waiting:
            changed += self.dispatch(device_id)
        return changed

    # --- the HTTP device API -----------------------------------------------------------------------------

    def next_for_http(self, device_id: str, wait_s: float) -> Command | None:
        """Long-poll: the device's oldest queued command, handed over as delivered; None after `wait_s`."""
        deadline = self._clock.now_ms() + int(wait_s * 1000)
        with self._lock:
            while True:
                with self._uow() as uow:
                    queued = [
                        c for c in uow.commands.queued_for(device_id) if self._clock.now_ms() < c.expires_ms
                    ]
                if queued:
                    command = queued[0]
                    now_ms = self._clock.now_ms()
                    sent = command.to(
                        CommandState.SENT,
                        now_ms,
                        PLATFORM,
                        "HTTP poll",
                        attempts=command.attempts + 1,
                        sent_ms=now_ms,
                    )
                    delivered = sent.to(
                        CommandState.DELIVERED, now_ms, device_id, "handed over in the HTTP response"
                    )
                    if not command.two_way:
                        delivered = delivered.to(
                            CommandState.SUCCEEDED, now_ms, device_id, "one-way: delivered is done"
                        )
                    self._save(delivered)
                    return delivered
                remaining_s = (deadline - self._clock.now_ms()) / 1000
                if remaining_s <= 0:
                    return None
                self._queued.wait(min(remaining_s, 1.0))

    # --- internals -------------------------------------------------------------------------------------

    def _find(self, device_id: str, command_id: str) -> Command | None:
        with self._uow() as uow:
            try:
                command = uow.commands.get(None, command_id)
            except NotFound:
                return None
            # a device can only touch its own commands (the broker's ACL already keeps it to its own topics),
            # and a gateway those of its children (it acknowledges their requests on its own topic)
            if command.device_id == device_id:
                return command
            try:
                child = uow.devices.get(None, command.device_id)
            except NotFound:
                return None
        return command if child.gateway_id == device_id else None

    def _save(self, command: Command) -> None:
        with self._uow() as uow:
            uow.commands.update(command)
            uow.commit()


def _what(command: Command) -> dict[str, Any]:
    return {"device_id": command.device_id, "method": command.method}
