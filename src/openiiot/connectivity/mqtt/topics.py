"""The MQTT topic codec of the device API (architecture §4): build topics and parse them back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PREFIX = "v1/devices"
#: retained JSON counters of the embedded broker; `$` topics cannot be published by clients (MQTT-4.7.2-1)
BROKER_STATS_TOPIC = "$platform/broker/stats"
#: the embedded broker announces device MQTT sessions opening and closing here (QoS 1, to the platform only)
CONNECTIVITY_TOPIC = "$platform/connectivity/events"
#: the embedded broker reports here that a device acknowledged (PUBACK) a command request (QoS 1)
RPC_DELIVERED_TOPIC = "$platform/rpc/delivered"
#: a consumer may read through a shared subscription so that several ingest workers split the load
SHARE_PREFIX = "$share/openiiot/"


class TopicKind(StrEnum):
    """What a device-API topic carries."""

    TELEMETRY = "telemetry"
    ATTRIBUTES = "attributes"
    SHARED_ATTRIBUTES = "attributes/shared"
    RPC_REQUEST = "rpc/request"
    RPC_RESPONSE = "rpc/response"
    # a gateway speaking for its child devices (docs/device-api.md, decision 0013)
    GATEWAY_CONNECT = "gateway/connect"
    GATEWAY_DISCONNECT = "gateway/disconnect"
    GATEWAY_TELEMETRY = "gateway/telemetry"
    GATEWAY_ATTRIBUTES = "gateway/attributes"
    GATEWAY_RPC_REQUEST = "gateway/rpc/request"  # platform -> gateway, a child's command
    GATEWAY_RPC_RESPONSE = "gateway/rpc/response"  # gateway -> platform, a child's answer
    GATEWAY_SHARED_ATTRIBUTES = "gateway/attributes/shared"  # platform -> gateway, a child's shared set
    GATEWAY_ATTRIBUTES_REQUEST = "gateway/attributes/request"  # gateway -> platform, read a child's values
    GATEWAY_ATTRIBUTES_RESPONSE = "gateway/attributes/response"  # platform -> gateway, the values read


#: what a device may publish: its own data, its answers, and (as a gateway) its children's
DEVICE_PUBLISHES = frozenset(
    {
        TopicKind.TELEMETRY,
        TopicKind.ATTRIBUTES,
        TopicKind.RPC_RESPONSE,
        TopicKind.GATEWAY_CONNECT,
        TopicKind.GATEWAY_DISCONNECT,
        TopicKind.GATEWAY_TELEMETRY,
        TopicKind.GATEWAY_ATTRIBUTES,
        TopicKind.GATEWAY_RPC_RESPONSE,
        TopicKind.GATEWAY_ATTRIBUTES_REQUEST,
    }
)
#: the topic kinds that carry an id (command id) as their last level
_WITH_ID = (TopicKind.RPC_REQUEST, TopicKind.RPC_RESPONSE, TopicKind.GATEWAY_RPC_REQUEST)
#: the fixed-suffix kinds, by their levels after the device id
_BY_REST = {tuple(kind.value.split("/")): kind for kind in TopicKind if kind not in _WITH_ID}
_BY_ID = {tuple(kind.value.split("/")): kind for kind in _WITH_ID}


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A device-API topic taken apart; `rpc_id` is set only for the kinds that end in a command id."""

    device_id: str
    kind: TopicKind
    rpc_id: str | None = None


def _valid_level(level: str) -> bool:
    # a level used as an id must be non-empty and must not be (or contain) a wildcard
    return bool(level) and "+" not in level and "#" not in level and "/" not in level and "\0" not in level


def _check(name: str, value: str) -> None:
    if not _valid_level(value):
        raise ValueError(f"{name} {value!r} cannot be used as an MQTT topic level")


def telemetry_topic(device_id: str) -> str:
    """`v1/devices/{id}/telemetry`."""
    _check("device id", device_id)
    return f"{PREFIX}/{device_id}/telemetry"


def attributes_topic(device_id: str) -> str:
    """`v1/devices/{id}/attributes` (client attributes, device → platform)."""
    _check("device id", device_id)
    return f"{PREFIX}/{device_id}/attributes"


def shared_attributes_topic(device_id: str) -> str:
    """`v1/devices/{id}/attributes/shared` (platform → device, retained)."""
    _check("device id", device_id)
    return f"{PREFIX}/{device_id}/attributes/shared"


def rpc_request_topic(device_id: str, rpc_id: str) -> str:
    """`v1/devices/{id}/rpc/request/{rpc_id}` (platform → device)."""
    _check("device id", device_id)
    _check("rpc id", rpc_id)
    return f"{PREFIX}/{device_id}/rpc/request/{rpc_id}"


def rpc_response_topic(device_id: str, rpc_id: str) -> str:
    """`v1/devices/{id}/rpc/response/{rpc_id}` (device → platform)."""
    _check("device id", device_id)
    _check("rpc id", rpc_id)
    return f"{PREFIX}/{device_id}/rpc/response/{rpc_id}"


def gateway_rpc_request_topic(gateway_id: str, rpc_id: str) -> str:
    """`v1/devices/{gateway id}/gateway/rpc/request/{rpc_id}` (platform -> gateway, a child's command)."""
    _check("device id", gateway_id)
    _check("rpc id", rpc_id)
    return f"{PREFIX}/{gateway_id}/gateway/rpc/request/{rpc_id}"


def gateway_topic(gateway_id: str, kind: TopicKind) -> str:
    """A gateway topic without an id level, e.g. `v1/devices/{gateway id}/gateway/telemetry`."""
    _check("device id", gateway_id)
    if kind in _WITH_ID or not kind.value.startswith("gateway/"):
        raise ValueError(f"{kind.value} is not a gateway topic without an id")
    return f"{PREFIX}/{gateway_id}/{kind.value}"


def device_filter(device_id: str) -> str:
    """The filter `v1/devices/{id}/#` covering every topic of one device."""
    _check("device id", device_id)
    return f"{PREFIX}/{device_id}/#"


def wildcard_filter(kind: TopicKind) -> str:
    """A filter matching `kind` for every device, e.g. `v1/devices/+/telemetry`."""
    if kind in _WITH_ID:
        return f"{PREFIX}/+/{kind.value}/+"
    return f"{PREFIX}/+/{kind.value}"


def parse_topic(topic: str) -> ParsedTopic | None:
    """Take a device-API topic apart; None for anything that is not exactly one of the known forms."""
    levels = topic.split("/")
    if len(levels) < 4 or levels[0] != "v1" or levels[1] != "devices" or not _valid_level(levels[2]):
        return None
    device_id, rest = levels[2], tuple(levels[3:])
    kind = _BY_REST.get(rest)
    if kind is not None:
        return ParsedTopic(device_id, kind)
    if len(rest) >= 3 and _valid_level(rest[-1]):
        with_id = _BY_ID.get(rest[:-1])
        if with_id is not None:
            return ParsedTopic(device_id, with_id, rest[-1])
    return None


def device_may_publish(device_id: str, topic: str) -> bool:
    """Whether a device may publish to `topic`: its own telemetry, attributes and RPC responses, and the
    gateway topics under its own id (which the platform accepts only for the device's own children)."""
    parsed = parse_topic(topic)
    return parsed is not None and parsed.device_id == device_id and parsed.kind in DEVICE_PUBLISHES


def device_may_subscribe(device_id: str, topic_filter: str) -> bool:
    """Whether a device may subscribe to `topic_filter`: only filters lying entirely under its own id."""
    levels = topic_filter.split("/")
    # `v1/devices/{id}/...` with at least one level after the id; wildcards only below the id level
    return (
        len(levels) >= 4
        and levels[:2] == ["v1", "devices"]
        and levels[2] == device_id
        and _valid_level(device_id)
    )
