"""Decoder of ThingsBoard gateway payloads: one message speaking for several child devices by name.

Pure functions over bytes (docs/device-api.md "Gateways", decision 0013). A multi-child message is split
into each child's own part, kept as the exact JSON bytes the gateway sent, so that each part then goes
through the ordinary device decoder (`payloads.decode_telemetry` / `decode_attributes`) with the same
rules and reject reasons as a device's own message. A part with a bad name is refused alone; only a message
that cannot be read at all is refused whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from openiiot.domain.model import JsonValue
from openiiot.services.payloads import RejectReason
from openiiot.services.provisioning import MAX_NAME_CHARS  # a device name is at most this long

MAX_TYPE_CHARS: Final = 200  # a profile name, likewise

_PARTS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])


class GatewayPayloadError(ValueError):
    """A gateway message that cannot be used at all; `reason` is the stable reject reason."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChildConnect:
    """`{"device": "Child A", "type": "compressor"}`: the child's name and, optionally, its profile name."""

    name: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ChildAnswer:
    """`{"device": "Child A", "id": "<command id>", "data": {...}}`: a child's answer to a command."""

    name: str
    command_id: str
    data: JsonValue


@dataclass(frozen=True, slots=True)
class AttributeRequest:
    """`{"id": 1, "device": "Child A", "client": true, "key": "fw"}` (or `"keys": [...]`): read a child's
    client (`client: true`) or shared attributes back. `single`: the `"key"` form, answered with `"value"`."""

    request_id: int | str
    name: str
    client: bool
    keys: tuple[str, ...]
    single: bool


@dataclass(slots=True)
class ChildParts:
    """A multi-child message split by child: each good part's raw JSON, and the parts refused by name."""

    parts: dict[str, bytes] = field(default_factory=dict)
    refused: list[tuple[str, RejectReason, str]] = field(default_factory=list)  # (name, reason, why)


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a device name (None: it can)."""
    if not isinstance(name, str):
        return "the device name must be a string"
    if not name.strip():
        return "the device name must not be empty"
    if len(name) > MAX_NAME_CHARS:
        return f"the device name must be at most {MAX_NAME_CHARS} characters"
    if "\x00" in name:
        return "the device name must not contain NUL"
    return None


def _object(payload: bytes, max_payload_bytes: int) -> dict[str, Any]:
    if len(payload) > max_payload_bytes:
        raise GatewayPayloadError(RejectReason.TOO_LARGE, f"the message exceeds {max_payload_bytes} bytes")
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise GatewayPayloadError(RejectReason.MALFORMED_JSON, "the message is not JSON") from exc
    if not isinstance(doc, dict):
        raise GatewayPayloadError(RejectReason.WRONG_SHAPE, "the message must be a JSON object")
    return doc


def _device_name(doc: dict[str, Any]) -> str:
    name = doc.get("device")
    problem = name_problem(name)
    if problem is not None:
        raise GatewayPayloadError(RejectReason.BAD_DEVICE_NAME, f'"device": {problem}')
    assert isinstance(name, str)
    return name


def parse_connect(payload: bytes, *, max_payload_bytes: int) -> ChildConnect:
    """`{"device": name, "type": profile name (optional)}` from `gateway/connect`."""
    doc = _object(payload, max_payload_bytes)
    name = _device_name(doc)
    kind = doc.get("type")
    if kind is not None and (not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_TYPE_CHARS):
        raise GatewayPayloadError(
            RejectReason.WRONG_SHAPE, f'"type" must be a profile name of 1-{MAX_TYPE_CHARS} characters'
        )
    return ChildConnect(name, kind)


def parse_disconnect(payload: bytes, *, max_payload_bytes: int) -> str:
    """The child's name from `gateway/disconnect`: `{"device": name}`."""
    return _device_name(_object(payload, max_payload_bytes))


def parse_answer(payload: bytes, *, max_payload_bytes: int) -> ChildAnswer:
    """`{"device": name, "id": command id, "data": answer}` from `gateway/rpc/response`."""
    doc = _object(payload, max_payload_bytes)
    name = _device_name(doc)
    command_id = doc.get("id")
    if isinstance(command_id, bool) or not isinstance(command_id, str | int) or not str(command_id):
        raise GatewayPayloadError(RejectReason.WRONG_SHAPE, '"id" must name the command being answered')
    if "data" not in doc:
        raise GatewayPayloadError(RejectReason.WRONG_SHAPE, '"data" (the answer) is missing')
    return ChildAnswer(name, str(command_id), doc["data"])


def parse_attribute_request(payload: bytes, *, max_payload_bytes: int) -> AttributeRequest:
    """`{"id", "device", "client": bool, "key": k | "keys": [k, ...]}` from `gateway/attributes/request`
    (ThingsBoard's gateway attribute request)."""
    doc = _object(payload, max_payload_bytes)
    request_id = doc.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str) or request_id == "":
        raise GatewayPayloadError(RejectReason.WRONG_SHAPE, '"id" must be the request\'s number or string')
    name = _device_name(doc)
    client = doc.get("client", False)
    if not isinstance(client, bool):
        raise GatewayPayloadError(
            RejectReason.WRONG_SHAPE, '"client" must be true (client attributes) or false (shared)'
        )
    if ("key" in doc) == ("keys" in doc):
        raise GatewayPayloadError(RejectReason.WRONG_SHAPE, 'give either "key" (one name) or "keys" (a list)')
    single = "key" in doc
    keys = [doc["key"]] if single else doc["keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise GatewayPayloadError(
            RejectReason.WRONG_SHAPE, '"key" must be an attribute name, "keys" a non-empty list of them'
        )
    return AttributeRequest(request_id, name, client, tuple(keys), single)


def attribute_response(request: AttributeRequest, values: dict[str, JsonValue]) -> bytes:
    """The answer on `gateway/attributes/response`: `{"id", "device", "value"}` to the `"key"` form (no
    `"value"` when the child has none), `{"id", "device", "values": {found keys}}` to the `"keys"` form."""
    body: dict[str, Any] = {"id": request.request_id, "device": request.name}
    if request.single:
        if request.keys[0] in values:
            body["value"] = values[request.keys[0]]
    else:
        body["values"] = {k: values[k] for k in request.keys if k in values}
    return msgspec.json.encode(body)


def attribute_error(request: AttributeRequest, why: str) -> bytes:
    """The answer to a request the platform refused (a name that is not the gateway's child)."""
    return msgspec.json.encode({"id": request.request_id, "device": request.name, "error": why})


def child_request(name: str, command_id: str, request: bytes) -> bytes:
    """A child's command for its gateway, `{"device": name, "data": {"id", "method", "params"}}`
    (ThingsBoard's gateway RPC request), from the `{"method", "params"}` request a device would get."""
    body = msgspec.json.decode(request)
    return msgspec.json.encode({"device": name, "data": {"id": command_id, **body}})


def split_by_child(payload: bytes, *, max_payload_bytes: int) -> ChildParts:
    """Split `{"Child A": part, "Child B": part, ...}` (telemetry or attributes) into each child's raw part.

    Raises GatewayPayloadError only when the message as a whole is not such an object.
    """
    if len(payload) > max_payload_bytes:
        raise GatewayPayloadError(RejectReason.TOO_LARGE, f"the message exceeds {max_payload_bytes} bytes")
    try:
        raw: dict[str, bytes] = {name: bytes(part) for name, part in _PARTS.decode(payload).items()}
    except msgspec.ValidationError as exc:
        raise GatewayPayloadError(
            RejectReason.WRONG_SHAPE, "the message must be an object of device name to that device's data"
        ) from exc
    except (msgspec.DecodeError, RecursionError):
        raw = _lenient_parts(payload)
    result = ChildParts()
    for name, part in raw.items():
        problem = name_problem(name)
        if problem is not None:
            result.refused.append((name[:MAX_NAME_CHARS], RejectReason.BAD_DEVICE_NAME, problem))
        else:
            result.parts[name] = part
    return result


def _lenient_parts(payload: bytes) -> dict[str, bytes]:
    """The stdlib reads NaN/Infinity literals, which the device decoder then refuses value by value."""
    try:
        doc = json.loads(payload, parse_constant=float)
    except (ValueError, RecursionError) as exc:
        raise GatewayPayloadError(RejectReason.MALFORMED_JSON, "the message is not JSON") from exc
    if not isinstance(doc, dict):
        raise GatewayPayloadError(
            RejectReason.WRONG_SHAPE, "the message must be an object of device name to that device's data"
        )
    return {name: json.dumps(part, allow_nan=True).encode("utf-8") for name, part in doc.items()}
