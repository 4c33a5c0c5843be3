"""The MQTT topic codec: build and parse round-trip, and nothing else parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openiiot.connectivity.mqtt.topics import (
    ParsedTopic,
    TopicKind,
    attributes_topic,
    device_may_publish,
    device_may_subscribe,
    gateway_rpc_request_topic,
    gateway_topic,
    parse_topic,
    rpc_request_topic,
    rpc_response_topic,
    shared_attributes_topic,
    telemetry_topic,
    wildcard_filter,
)

GATEWAY_UPLINK = (
    TopicKind.GATEWAY_CONNECT,
    TopicKind.GATEWAY_DISCONNECT,
    TopicKind.GATEWAY_TELEMETRY,
    TopicKind.GATEWAY_ATTRIBUTES,
    TopicKind.GATEWAY_RPC_RESPONSE,
    TopicKind.GATEWAY_ATTRIBUTES_REQUEST,
)
ids = st.text(
    alphabet=st.characters(blacklist_characters="/+#\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
)


@given(device_id=ids, rpc_id=ids)
def test_every_built_topic_parses_back_to_its_parts(device_id: str, rpc_id: str) -> None:
    assert parse_topic(telemetry_topic(device_id)) == ParsedTopic(device_id, TopicKind.TELEMETRY)
    assert parse_topic(attributes_topic(device_id)) == ParsedTopic(device_id, TopicKind.ATTRIBUTES)
    assert parse_topic(shared_attributes_topic(device_id)) == ParsedTopic(
        device_id, TopicKind.SHARED_ATTRIBUTES
    )
    assert parse_topic(rpc_request_topic(device_id, rpc_id)) == ParsedTopic(
        device_id, TopicKind.RPC_REQUEST, rpc_id
    )
    assert parse_topic(rpc_response_topic(device_id, rpc_id)) == ParsedTopic(
        device_id, TopicKind.RPC_RESPONSE, rpc_id
    )
    assert parse_topic(gateway_rpc_request_topic(device_id, rpc_id)) == ParsedTopic(
        device_id, TopicKind.GATEWAY_RPC_REQUEST, rpc_id
    )
    for kind in GATEWAY_UPLINK:
        assert parse_topic(gateway_topic(device_id, kind)) == ParsedTopic(device_id, kind)


@given(st.text(max_size=80))
def test_arbitrary_text_never_raises_and_parses_only_to_a_buildable_topic(topic: str) -> None:
    parsed = parse_topic(topic)
    if parsed is None:
        return
    rebuilt = {
        TopicKind.TELEMETRY: lambda p: telemetry_topic(p.device_id),
        TopicKind.ATTRIBUTES: lambda p: attributes_topic(p.device_id),
        TopicKind.SHARED_ATTRIBUTES: lambda p: shared_attributes_topic(p.device_id),
        TopicKind.RPC_REQUEST: lambda p: rpc_request_topic(p.device_id, p.rpc_id),
        TopicKind.RPC_RESPONSE: lambda p: rpc_response_topic(p.device_id, p.rpc_id),
        TopicKind.GATEWAY_RPC_REQUEST: lambda p: gateway_rpc_request_topic(p.device_id, p.rpc_id),
        **{kind: (lambda p: gateway_topic(p.device_id, p.kind)) for kind in GATEWAY_UPLINK},
        TopicKind.GATEWAY_SHARED_ATTRIBUTES: lambda p: gateway_topic(p.device_id, p.kind),
    }[parsed.kind](parsed)
    assert rebuilt == topic


@pytest.mark.parametrize(
    "topic",
    [
        "v1/devices//telemetry",
        "v1/devices/+/telemetry",
        "v1/devices/#",
        "v1/devices/d1/telemetry/extra",
        "v1/devices/d1/rpc/request",
        "v1/devices/d1/rpc/request/",
        "v1/devices/d1/rpc/other/7",
        "v1/devices/d1/gateway",
        "v1/devices/d1/gateway/rpc",
        "v1/devices/d1/gateway/rpc/request",
        "v1/devices/d1/gateway/telemetry/7",
        "v1/devices/d1/gateway/rpc/response/7",
        "v2/devices/d1/telemetry",
        "$share/openiiot/v1/devices/d1/telemetry",
        "",
    ],
)
def test_malformed_topics_do_not_parse(topic: str) -> None:
    assert parse_topic(topic) is None


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "x+y"])
def test_ids_that_would_change_the_topic_structure_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot be used"):
        telemetry_topic(bad)


def test_a_device_may_publish_only_its_own_uplink_topics() -> None:
    assert device_may_publish("d1", "v1/devices/d1/telemetry")
    assert device_may_publish("d1", "v1/devices/d1/attributes")
    assert device_may_publish("d1", "v1/devices/d1/rpc/response/42")
    assert not device_may_publish("d1", "v1/devices/d2/telemetry")
    assert not device_may_publish("d1", "v1/devices/d1/attributes/shared")  # platform → device only
    assert not device_may_publish("d1", "v1/devices/d1/rpc/request/42")
    assert not device_may_publish("d1", "$platform/broker/stats")


def test_a_gateway_publishes_for_its_children_only_under_its_own_id() -> None:
    for kind in GATEWAY_UPLINK:
        assert device_may_publish("gw", gateway_topic("gw", kind))
        assert not device_may_publish("gw", gateway_topic("other", kind))
    assert not device_may_publish("gw", gateway_rpc_request_topic("gw", "42"))  # platform → gateway only
    assert not device_may_publish("gw", gateway_topic("gw", TopicKind.GATEWAY_SHARED_ATTRIBUTES))
    assert not device_may_publish("gw", gateway_topic("gw", TopicKind.GATEWAY_ATTRIBUTES_RESPONSE))
    with pytest.raises(ValueError, match="not a gateway topic"):
        gateway_topic("gw", TopicKind.TELEMETRY)


def test_a_device_may_subscribe_only_under_its_own_id() -> None:
    assert device_may_subscribe("d1", "v1/devices/d1/#")
    assert device_may_subscribe("d1", "v1/devices/d1/rpc/request/+")
    assert device_may_subscribe("d1", "v1/devices/d1/attributes/shared")
    assert not device_may_subscribe("d1", "v1/devices/d1")
    assert not device_may_subscribe("d1", "v1/devices/+/telemetry")
    assert not device_may_subscribe("d1", "v1/devices/#")
    assert not device_may_subscribe("d1", "#")
    assert not device_may_subscribe("d1", "$platform/#")
    assert not device_may_subscribe("+", "v1/devices/+/telemetry")


def test_wildcard_filters() -> None:
    assert wildcard_filter(TopicKind.TELEMETRY) == "v1/devices/+/telemetry"
    assert wildcard_filter(TopicKind.RPC_RESPONSE) == "v1/devices/+/rpc/response/+"
    assert wildcard_filter(TopicKind.GATEWAY_TELEMETRY) == "v1/devices/+/gateway/telemetry"
    assert wildcard_filter(TopicKind.GATEWAY_RPC_RESPONSE) == "v1/devices/+/gateway/rpc/response"
