"""Gateways speaking for child devices (docs/device-api.md "Gateways", decision 0013).

The router sits in front of the ingest pipeline: a device's own messages pass straight through; a gateway
message is split into its children's own telemetry and attribute messages, which then go through the
pipeline exactly like a device's (same decoder, same rejects, same activity and alarm evaluation). The
gateway's message is acknowledged once every child part of it is committed. Connect and disconnect of a
child drive the child's connectivity (and the delivery of its queued commands); a child's answer to a
command goes to the command service.

Only a device flagged `is_gateway` may use the gateway topics; another device's gateway message is refused
whole (logged, counted as `not_a_gateway`) and creates nothing, while its own telemetry is unaffected.
A gateway may act only for its own children: a name that belongs to a direct device or to another
gateway's child is refused (logged and counted as `not_a_child`) while the other children's data in the
same message is kept. A name the tenant does not know yet is created as the gateway's child on first sight,
up to `max_children` children per gateway (`too_many_children` beyond).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Final

import orjson

from openiiot.domain.credentials import generate_token, hash_token, new_id
from openiiot.domain.errors import Conflict, NotFound, Overloaded
from openiiot.domain.model import AttributeScope, Device, Principal, Role
from openiiot.services.audit import record
from openiiot.services.commands import CommandService
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory, DeviceEntry
from openiiot.services.gateway_outcome import GatewayOutcome
from openiiot.services.gateway_payloads import (
    AttributeRequest,
    GatewayPayloadError,
    attribute_error,
    attribute_response,
    parse_answer,
    parse_attribute_request,
    parse_connect,
    parse_disconnect,
    split_by_child,
)
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome
from openiiot.services.metrics import IngestMetrics
from openiiot.services.payloads import RejectReason
from openiiot.services.ports import BrokerAccounts, Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

_DATA: Final = {Channel.GATEWAY_TELEMETRY: Channel.TELEMETRY, Channel.GATEWAY_ATTRIBUTES: Channel.ATTRIBUTES}
_MAX_CACHED: Final = 200_000  # (gateway, name) -> child id entries kept before the cache starts over


class ChildRefused(Exception):
    """A gateway named a device it may not act for."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GatewayRouter:
    """Routes gateway messages to the children they name; everything else goes straight to ingest."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        directory: DeviceDirectory,
        clock: Clock,
        submit: Callable[[IngestMessage], None],
        metrics: IngestMetrics,
        connectivity: ConnectivityService,
        commands: CommandService | None = None,
        broker: BrokerAccounts | None = None,
        max_payload_bytes: int,
        max_children: int = 1000,
        on_child_connected: Callable[[str], None] | None = None,
        respond: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._clock = clock
        self._submit = submit
        self._metrics = metrics
        self._connectivity = connectivity
        self._commands = commands
        self._broker = broker  # an external broker's device accounts: a child gets one like any device
        self._max_payload_bytes = max_payload_bytes
        self._max_children = max_children
        self._on_child_connected = on_child_connected
        self._respond = respond  # (gateway id, payload) -> published on its `gateway/attributes/response`
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str], str] = {}  # (gateway id, child name) -> child id
        self._keys: dict[str, tuple[str, str]] = {}  # child id -> its key above, to forget it cheaply
        self._routes: dict[str, tuple[str, str]] = {}  # child id -> (gateway id, name), while connected
        self.counts: Counter[str] = Counter()

    # --- messages --------------------------------------------------------------------------------------

    def submit(self, message: IngestMessage) -> None:
        """Take one message from the MQTT consumer (blocks while ingest is full, like `IngestPipeline`)."""
        if message.channel in (Channel.TELEMETRY, Channel.ATTRIBUTES):
            self._submit(message)
            return
        self.counts[message.channel.value] += 1
        gateway = self._directory.resolve(message.device_id)
        if gateway is None or gateway.disabled:
            reason = RejectReason.UNKNOWN_DEVICE if gateway is None else RejectReason.DEVICE_DISABLED
            self._finish(message, 0, Counter({reason.value: 1}), reason)
            return
        if not gateway.is_gateway:
            # a device not flagged as a gateway creates nothing; its own topics are not affected
            log.error(
                "gateway message from a device that is not a gateway refused (set is_gateway on the device)",
                extra={"device_id": message.device_id, "channel": message.channel.value},
            )
            reason = RejectReason.NOT_A_GATEWAY
            self._finish(message, 0, Counter({reason.value: 1}), reason)
            return
        try:
            if message.channel in _DATA:
                self._data(gateway, message)
                return
            self._control(gateway, message)
        except (GatewayPayloadError, ChildRefused) as exc:
            log.error(
                "gateway message refused: %s",
                exc,
                extra={"gateway_id": message.device_id, "channel": message.channel.value},
            )
            self._finish(message, 0, Counter({exc.reason.value: 1}), exc.reason, gateway=True)

    def _control(self, gateway: DeviceEntry, message: IngestMessage) -> None:
        gateway_id, ts_ms = message.device_id, message.received_ms
        limit = self._max_payload_bytes
        if message.channel is Channel.GATEWAY_CONNECT:
            connect = parse_connect(message.payload, max_payload_bytes=limit)
            child_id = self.child(gateway, connect.name, profile_name=connect.type)
            self._child_connected(gateway_id, child_id, connect.name, ts_ms, "connected via the gateway")
        elif message.channel is Channel.GATEWAY_DISCONNECT:
            name = parse_disconnect(message.payload, max_payload_bytes=limit)
            child_id = self.child(gateway, name, create=False)
            with self._lock:
                self._routes.pop(child_id, None)
            self._connectivity.child_session(
                gateway_id, child_id, False, ts_ms, "the gateway reported it gone"
            )
            if self._commands is not None:
                self._commands.on_session_closed(child_id)
        elif message.channel is Channel.GATEWAY_RPC_RESPONSE:
            answer = parse_answer(message.payload, max_payload_bytes=limit)
            child_id = self.child(gateway, answer.name, create=False)
            if self._commands is None or not self._commands.on_response(
                child_id, answer.command_id, orjson.dumps(answer.data)
            ):
                log.warning(
                    "a gateway answered a command its child does not have",
                    extra={"gateway_id": gateway_id, "child_id": child_id, "command_id": answer.command_id},
                )
        elif message.channel is Channel.GATEWAY_ATTRIBUTES_REQUEST:
            self._attribute_request(
                gateway, parse_attribute_request(message.payload, max_payload_bytes=limit)
            )
        else:
            raise GatewayPayloadError(RejectReason.WRONG_SHAPE, f"unknown gateway channel {message.channel}")
        self._finish(message, 1, Counter(), None, gateway=True)

    def _attribute_request(self, gateway: DeviceEntry, request: AttributeRequest) -> None:
        """Answer with the child's current values of the keys asked for; a refused name gets an `error`."""
        if self._respond is None:
            log.warning(
                "no publisher to answer a gateway's attribute request",
                extra={"gateway_id": gateway.device_id},
            )
            return
        try:
            child_id = self.child(gateway, request.name, create=False)
        except ChildRefused as exc:
            self._respond(gateway.device_id, attribute_error(request, str(exc)))
            raise
        scope = AttributeScope.CLIENT if request.client else AttributeScope.SHARED
        with self._uow() as uow:
            values = {a.key: a.value for a in uow.attributes.list(child_id, scope) if a.key in request.keys}
        self._respond(gateway.device_id, attribute_response(request, values))

    def _data(self, gateway: DeviceEntry, message: IngestMessage) -> None:
        gateway_id = message.device_id
        split = split_by_child(message.payload, max_payload_bytes=self._max_payload_bytes)
        rejected: Counter[str] = Counter()
        for name, reason, why in split.refused:
            log.error("gateway data for %r refused: %s", name, why, extra={"gateway_id": gateway_id})
            rejected[reason.value] += 1
        parts: list[tuple[str, bytes]] = []
        for name, part in split.parts.items():
            try:
                child_id = self.child(gateway, name)
            except ChildRefused as exc:
                log.error("gateway data for %r refused: %s", name, exc, extra={"gateway_id": gateway_id})
                rejected[exc.reason.value] += 1
                continue
            if not self._connectivity.is_connected(child_id):
                # data through the gateway shows the child is there, as ThingsBoard takes it
                self._child_connected(gateway_id, child_id, name, message.received_ms, "data via the gateway")
            parts.append((child_id, part))
        own = dict(rejected)  # the gateway-level refusals, counted here; the parts' are counted by ingest
        outcome = GatewayOutcome(message, rejected, lambda: self._gateway_active(message))
        try:
            for child_id, part in parts:
                outcome.expect()
                self._submit(
                    IngestMessage(
                        child_id, _DATA[message.channel], part, message.received_ms, outcome.part_done
                    )
                )
        except Overloaded:
            outcome.abandon()  # parts already queued are stored (idempotent); the gateway resends all
            raise
        self._metrics.count_rejects(own)
        outcome.seal()

    # --- children --------------------------------------------------------------------------------------

    def child(
        self, gateway: DeviceEntry, name: str, *, profile_name: str | None = None, create: bool = True
    ) -> str:
        """The id of the gateway's child called `name`, created on first sight; ChildRefused otherwise."""
        key = (gateway.device_id, name)
        with self._lock:
            cached = self._children.get(key)
        if cached is not None:
            return cached
        with self._uow() as uow:
            try:
                device: Device | None = uow.devices.get_by_name(gateway.tenant_id, name)
            except NotFound:
                device = None
        if device is None:
            if not create:
                raise ChildRefused(
                    RejectReason.NOT_A_CHILD, f"the gateway has no child device named {name!r}"
                )
            device = self._create_child(gateway, name, profile_name)
        if device.disabled:
            raise ChildRefused(RejectReason.DEVICE_DISABLED, f"device {name!r} ({device.id}) is disabled")
        if device.gateway_id != gateway.device_id:
            whose = "a direct device" if device.gateway_id is None else "a child of another gateway"
            raise ChildRefused(
                RejectReason.NOT_A_CHILD,
                f"device {name!r} ({device.id}) is {whose}; gateway {gateway.device_id} may not act for it",
            )
        with self._lock:
            if len(self._children) >= _MAX_CACHED:
                self._children.clear()
                self._keys.clear()
            self._children[key] = device.id
            self._keys[device.id] = key
        return device.id

    def _create_child(self, gateway: DeviceEntry, name: str, profile_name: str | None) -> Device:
        """A new child in the gateway's tenant and place; a profile named `profile_name` if the tenant has
        one, else the gateway's own profile. Its token is random and never shown (it reports through the
        gateway; rotating the token lets it connect itself)."""
        now_ms = self._clock.now_ms()
        token = generate_token()
        with self._uow() as uow:
            children = uow.devices.count(gateway.tenant_id, gateway_id=gateway.device_id)
            if children >= self._max_children:
                raise ChildRefused(
                    RejectReason.TOO_MANY_CHILDREN,
                    f"gateway {gateway.device_id} already has {children} child devices, the most allowed "
                    f"(OPENIIOT_GATEWAY_MAX_CHILDREN={self._max_children}); {name!r} was not created",
                )
            profile_id = gateway.profile.id
            if profile_name is not None:
                try:
                    profile_id = uow.profiles.get_by_name(gateway.tenant_id, profile_name).id
                except NotFound:
                    log.warning(
                        "gateway child type names no profile of the tenant; using the gateway's profile",
                        extra={"gateway_id": gateway.device_id, "type": profile_name, "child_name": name},
                    )
            device = Device(
                id=new_id(),
                tenant_id=gateway.tenant_id,
                name=name,
                profile_id=profile_id,
                asset_id=gateway.asset_id,
                gateway_id=gateway.device_id,
                token_hash=hash_token(token),
                created_ms=now_ms,
            )
            try:
                uow.devices.add(device)
                system = Principal(
                    user_id=gateway.device_id,
                    username=f"gateway {gateway.device_id}",
                    role=Role.OPERATOR,
                    tenant_id=gateway.tenant_id,
                )
                record(
                    uow, self._clock, system, "device.create", "device", device.id,
                    tenant_id=gateway.tenant_id,
                    details={"name": name, "profile_id": profile_id, "gateway_id": gateway.device_id},
                )  # fmt: skip
                if self._broker is not None:
                    self._broker.devices_created([(device.id, token, False)])
                uow.commit()
            except Conflict:
                # another ingest worker created the same name a moment ago: use that one
                with self._uow() as again:
                    return again.devices.get_by_name(gateway.tenant_id, name)
        log.info(
            "gateway child device created",
            extra={"gateway_id": gateway.device_id, "device_id": device.id, "profile_id": profile_id},
        )
        return device

    def route_of(self, device_id: str) -> tuple[str, str] | None:
        """(gateway id, child name) when the device is reached through its gateway now, else None."""
        with self._lock:
            route = self._routes.get(device_id)
        if route is not None:
            return route
        # a child stored as connected through its gateway before a restart (external broker: its sessions
        # survived us); its gateway has not spoken for it since, so the name is read once
        gateway_id = self._connectivity.gateway_of(device_id)
        if gateway_id is None:
            return None
        with self._uow() as uow:
            try:
                name = uow.devices.get(None, device_id).name
            except NotFound:
                return None
        with self._lock:
            return self._routes.setdefault(device_id, (gateway_id, name))

    def forget(self, device_id: str) -> None:
        """A device changed or was deleted: look its name up again next time (renamed, moved to another
        gateway, disabled). Its route stays until the gateway disconnects it."""
        with self._lock:
            key = self._keys.pop(device_id, None)
            if key is not None:
                self._children.pop(key, None)

    def gateway_closed(self, children: list[str]) -> None:
        """The gateway's session ended: its children are no longer reachable through it."""
        with self._lock:
            for child_id in children:
                self._routes.pop(child_id, None)
        if self._commands is not None:
            for child_id in children:
                self._commands.on_session_closed(child_id)

    # --- internals -------------------------------------------------------------------------------------

    def _child_connected(self, gateway_id: str, child_id: str, name: str, ts_ms: int, reason: str) -> None:
        with self._lock:
            self._routes[child_id] = (gateway_id, name)
        self._connectivity.child_session(gateway_id, child_id, True, ts_ms, reason)
        if self._on_child_connected is not None:
            try:
                self._on_child_connected(child_id)
            except Exception:  # the child's data must not be lost over a failed push
                log.exception("pushing a child's shared attributes failed", extra={"child_id": child_id})
        if self._commands is not None:
            self._commands.on_session_opened(child_id)  # its queued commands go out through the gateway

    def _gateway_active(self, message: IngestMessage) -> None:
        self._connectivity.activity({message.device_id: message.received_ms})

    def _finish(
        self,
        message: IngestMessage,
        accepted: int,
        rejected: Counter[str],
        error: RejectReason | None,
        *,
        gateway: bool = False,
    ) -> None:
        self._metrics.count_rejects(rejected)
        if gateway:
            self._gateway_active(message)
        if message.on_done is not None:
            message.on_done(IngestOutcome(accepted, dict(rejected), None if error is None else error.value))
