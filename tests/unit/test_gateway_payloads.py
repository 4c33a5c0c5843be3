"""Gateway payloads (ThingsBoard's gateway format): split by child, connect, disconnect, answers; a bad part
is refused alone, an unreadable message whole, each with the reason a user sees counted."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openiiot.services.gateway_payloads import (
    AttributeRequest,
    ChildAnswer,
    ChildConnect,
    GatewayPayloadError,
    attribute_error,
    attribute_response,
    child_request,
    parse_answer,
    parse_attribute_request,
    parse_connect,
    parse_disconnect,
    split_by_child,
)
from openiiot.services.payloads import RejectReason

LIMIT = 65_536


def test_telemetry_for_several_children_is_split_into_each_childs_exact_part() -> None:
    payload = (
        b'{"Child A": [{"ts": 1764316800000, "values": {"temperature": 42.2}}],'
        b' "Child B": {"humidity": 51}, "": [1], "Child C": [{"ts": 1, "values": {"v": 1e400}}]}'
    )
    split = split_by_child(payload, max_payload_bytes=LIMIT)
    assert split.parts == {
        "Child A": b'[{"ts": 1764316800000, "values": {"temperature": 42.2}}]',
        "Child B": b'{"humidity": 51}',
        "Child C": b'[{"ts": 1, "values": {"v": 1e400}}]',  # left for the device decoder to refuse
    }
    assert split.refused == [("", RejectReason.BAD_DEVICE_NAME, "the device name must not be empty")]


def test_nan_literals_do_not_lose_the_other_children() -> None:
    split = split_by_child(b'{"A": {"v": NaN, "w": 1}, "B": {"x": 2}}', max_payload_bytes=LIMIT)
    assert json.loads(split.parts["B"]) == {"x": 2}
    a = json.loads(split.parts["A"])
    assert math.isnan(a["v"]) and a["w"] == 1  # still NaN: the device decoder counts it `non_finite`


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON),
        (b'["Child A"]', RejectReason.WRONG_SHAPE),
        (b'"Child A"', RejectReason.WRONG_SHAPE),
        (b"x" * (LIMIT + 1), RejectReason.TOO_LARGE),
    ],
)
def test_an_unreadable_multi_child_message_is_refused_whole(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(GatewayPayloadError) as caught:
        split_by_child(payload, max_payload_bytes=LIMIT)
    assert caught.value.reason is reason


names = st.text(min_size=1, max_size=40).filter(lambda n: n.strip() and "\x00" not in n)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(names, values, max_size=6))
def test_every_childs_part_decodes_to_what_the_gateway_sent(message: dict[str, object]) -> None:
    split = split_by_child(json.dumps(message).encode(), max_payload_bytes=LIMIT)
    assert split.refused == []
    assert {name: json.loads(part) for name, part in split.parts.items()} == message


def test_connect_disconnect_and_answer() -> None:
    assert parse_connect(b'{"device": "Child A", "type": "compressor"}', max_payload_bytes=LIMIT) == (
        ChildConnect("Child A", "compressor")
    )
    assert parse_connect(b'{"device": "Child A"}', max_payload_bytes=LIMIT) == ChildConnect("Child A")
    assert parse_disconnect(b'{"device": "Child A"}', max_payload_bytes=LIMIT) == "Child A"
    answer = parse_answer(
        b'{"device": "Child A", "id": 42, "data": {"success": true}}', max_payload_bytes=LIMIT
    )
    assert answer == ChildAnswer("Child A", "42", {"success": True})


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        (
            b'{"type": "compressor"}',
            RejectReason.BAD_DEVICE_NAME,
            '"device": the device name must be a string',
        ),
        (b'{"device": "  "}', RejectReason.BAD_DEVICE_NAME, "must not be empty"),
        (b'{"device": "A", "type": 7}', RejectReason.WRONG_SHAPE, '"type" must be a profile name'),
        (b'{"device": "' + b"a" * 201 + b'"}', RejectReason.BAD_DEVICE_NAME, "at most 200 characters"),
        (b"[]", RejectReason.WRONG_SHAPE, "must be a JSON object"),
    ],
)
def test_a_bad_connect_says_what_is_wrong(payload: bytes, reason: RejectReason, words: str) -> None:
    with pytest.raises(GatewayPayloadError, match=words) as caught:
        parse_connect(payload, max_payload_bytes=LIMIT)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"device": "A", "data": {}}', '"id" must name the command'),
        (b'{"device": "A", "id": true, "data": {}}', '"id" must name the command'),
        (b'{"device": "A", "id": "c-1"}', '"data" \\(the answer\\) is missing'),
    ],
)
def test_a_bad_answer_says_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(GatewayPayloadError, match=words):
        parse_answer(payload, max_payload_bytes=LIMIT)


def test_a_childs_command_is_wrapped_as_thingsboard_sends_it_to_a_gateway() -> None:
    wrapped = child_request(
        "Child A", "c-1", b'{"method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}}'
    )
    assert json.loads(wrapped) == {
        "device": "Child A",
        "data": {"id": "c-1", "method": "set_pressure_setpoint", "params": {"setpoint_bar": 6.8}},
    }


def test_an_attribute_request_in_both_thingsboard_forms_and_its_answers() -> None:
    one = parse_attribute_request(
        b'{"id": 7, "device": "Child A", "client": true, "key": "fw"}', max_payload_bytes=LIMIT
    )
    assert one == AttributeRequest(7, "Child A", True, ("fw",), True)
    many = parse_attribute_request(
        b'{"id": "r-8", "device": "Child A", "keys": ["fw", "serial"]}', max_payload_bytes=LIMIT
    )
    assert many == AttributeRequest("r-8", "Child A", False, ("fw", "serial"), False)  # shared by default
    assert json.loads(attribute_response(one, {"fw": "2.4.1"})) == {
        "id": 7,
        "device": "Child A",
        "value": "2.4.1",
    }
    assert json.loads(attribute_response(one, {})) == {"id": 7, "device": "Child A"}
    assert json.loads(attribute_response(many, {"serial": "S-1"})) == {
        "id": "r-8",
        "device": "Child A",
        "values": {"serial": "S-1"},
    }
    assert json.loads(attribute_error(one, "no such child")) == {
        "id": 7,
        "device": "Child A",
        "error": "no such child",
    }


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"device": "A", "key": "fw"}', '"id"'),
        (b'{"id": true, "device": "A", "key": "fw"}', '"id"'),
        (b'{"id": 1, "key": "fw"}', '"device"'),
        (b'{"id": 1, "device": "A", "client": "yes", "key": "fw"}', '"client"'),
        (b'{"id": 1, "device": "A"}', 'either "key"'),
        (b'{"id": 1, "device": "A", "key": "fw", "keys": ["fw"]}', 'either "key"'),
        (b'{"id": 1, "device": "A", "keys": []}', "non-empty list"),
        (b'{"id": 1, "device": "A", "keys": [1]}', "non-empty list"),
        (b'{"id": 1, "device": "A", "key": ""}', "attribute name"),
    ],
)
def test_a_bad_attribute_request_says_what_is_wrong(payload: bytes, words: str) -> None:
    with pytest.raises(GatewayPayloadError) as caught:
        parse_attribute_request(payload, max_payload_bytes=LIMIT)
    assert words in str(caught.value)
