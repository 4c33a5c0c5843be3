"""The ThingsBoard payload decoder: exact points for valid input, counted rejects for everything else."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openiiot.domain.model import DeviceProfile, KeyKind, TelemetryKeySpec
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.payloads import (
    DecodeLimits,
    DecodeResult,
    KeyPolicy,
    RejectReason,
    decode_attributes,
    decode_telemetry,
)

NOW_MS = 1_700_000_000_000
RECEIVED_MS = NOW_MS - 5
LIMITS = DecodeLimits(max_payload_bytes=65536, max_future_ms=3_600_000, max_past_ms=86_400_000)
R = RejectReason

Point = tuple[str, int, float | None, str | None]  # key, ts_ms, value, text


def decode(payload: bytes | str, policy: KeyPolicy | None = None) -> tuple[list[Point], DecodeResult]:
    raw = payload.encode() if isinstance(payload, str) else payload
    batch = TelemetryBatch()
    result = decode_telemetry(
        raw,
        device_id="dev-1",
        received_ms=RECEIVED_MS,
        now_ms=NOW_MS,
        limits=LIMITS,
        out=batch,
        **({"policy": policy} if policy else {}),
    )
    assert set(batch.device_id) <= {"dev-1"}
    assert len(batch) == result.accepted
    return list(zip(batch.key, batch.ts_ms, batch.value, batch.text, strict=True)), result


# --- strategies -------------------------------------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True).filter(lambda k: k not in ("ts", "values"))
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
scalars = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
    texts,
)
timestamps = st.integers(min_value=NOW_MS - LIMITS.max_past_ms, max_value=NOW_MS + LIMITS.max_future_ms)
flat_objects = st.dictionaries(keys, scalars, max_size=8)
ts_objects = st.fixed_dictionaries({"ts": timestamps, "values": flat_objects})
entries = st.one_of(flat_objects, ts_objects)
payloads = st.one_of(entries, st.lists(entries, max_size=6))


def expected_points(doc: Any) -> list[Point]:
    """What the decoder must produce, computed the obvious way."""
    out: list[Point] = []
    for entry in doc if isinstance(doc, list) else [doc]:
        ts, values = (entry["ts"], entry["values"]) if "values" in entry else (RECEIVED_MS, entry)
        for key, v in values.items():
            if isinstance(v, str):
                out.append((key, ts, None, v))
            else:
                out.append((key, ts, float(v), None))
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


# --- properties -------------------------------------------------------------------------------------------


@given(payloads)
def test_valid_payloads_round_trip_to_exactly_the_expected_points(doc: Any) -> None:
    points, result = decode(json.dumps(doc))
    assert points == expected_points(doc)
    assert result.rejects == {}
    assert result.error is None


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    points, result = decode(raw)  # decode() also checks that the batch holds exactly the accepted points
    assert result.error is None or (points == [] and result.rejects == {result.error: 1})
    attrs = decode_attributes(raw, max_payload_bytes=65536)
    assert attrs.error is None or (attrs.attributes == {} and attrs.rejects == {attrs.error: 1})


@given(json_values)
def test_arbitrary_json_never_raises_and_keeps_only_finite_numbers(doc: Any) -> None:
    # json.dumps writes NaN and Infinity literals for non-finite floats, as Python devices do.
    points, _ = decode(json.dumps(doc))
    for _key, _ts, value, text in points:
        assert (value is None) != (text is None)
        assert value is None or (value == value and abs(value) != float("inf"))
    attrs = decode_attributes(json.dumps(doc).encode(), max_payload_bytes=65536)
    assert attrs.accepted == len(attrs.attributes)


INVALID_ENTRIES = [
    ('{"bad key!": 1}', R.BAD_KEY, 1),
    ('{"n": null}', R.UNSUPPORTED_VALUE, 1),
    ('{"o": {"nested": 1}}', R.UNSUPPORTED_VALUE, 1),
    ('{"a": [1, 2]}', R.UNSUPPORTED_VALUE, 1),
    ('{"x": NaN}', R.NON_FINITE, 1),
    ('{"x": Infinity}', R.NON_FINITE, 1),
    ('{"x": -Infinity}', R.NON_FINITE, 1),
    ('{"x": 1e999}', R.NON_FINITE, 1),
    ('{"x": ' + "9" * 400 + "}", R.NON_FINITE, 1),
    ('{"ts": "1700000000000", "values": {"a": 1, "b": 2}}', R.BAD_TIMESTAMP, 2),
    ('{"ts": true, "values": {"a": 1}}', R.BAD_TIMESTAMP, 1),
    ('{"ts": 99999999999999, "values": {"a": 1}}', R.TS_IN_FUTURE, 1),
    ('{"ts": 1000, "values": {"a": 1}}', R.TS_TOO_OLD, 1),
    ('{"ts": 1700000000000, "values": [1]}', R.WRONG_SHAPE, 1),
    ("42", R.WRONG_SHAPE, 1),
    ('"text"', R.WRONG_SHAPE, 1),
]


@settings(max_examples=60)
@given(
    st.lists(ts_objects, min_size=1, max_size=4),
    st.lists(st.sampled_from(INVALID_ENTRIES), min_size=1, max_size=4),
    st.randoms(use_true_random=False),
)
def test_mixing_valid_and_invalid_entries_keeps_every_valid_one(
    valid: list[dict[str, Any]], invalid: list[tuple[str, RejectReason, int]], rnd: Any
) -> None:
    parts = [(json.dumps(v), None, 0) for v in valid] + invalid
    rnd.shuffle(parts)
    points, result = decode("[" + ", ".join(p[0] for p in parts) + "]")
    assert points == expected_points([json.loads(p[0]) for p in parts if p[1] is None])
    wanted: dict[RejectReason, int] = {}
    for _text, reason, n in invalid:
        wanted[reason] = wanted.get(reason, 0) + n
    assert result.rejects == wanted
    assert result.error is None


# --- examples ---------------------------------------------------------------------------------------------


def test_flat_object_is_stamped_with_receive_time_and_bools_become_numbers() -> None:
    points, _ = decode('{"temp": 21.5, "on": true, "off": false, "count": 3, "fw": "1.2"}')
    assert points == [
        ("temp", RECEIVED_MS, 21.5, None),
        ("on", RECEIVED_MS, 1.0, None),
        ("off", RECEIVED_MS, 0.0, None),
        ("count", RECEIVED_MS, 3.0, None),
        ("fw", RECEIVED_MS, None, "1.2"),
    ]


def test_float_timestamps_are_truncated_to_milliseconds() -> None:
    points, _ = decode(f'{{"ts": {NOW_MS}.9, "values": {{"a": 1}}}}')
    assert points == [("a", NOW_MS, 1.0, None)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", R.MALFORMED_JSON),
        (b"\xff\xfe{}", R.MALFORMED_JSON),
        (b"", R.MALFORMED_JSON),
        (b"[" * 5000, R.MALFORMED_JSON),
        (b"null", R.WRONG_SHAPE),
    ],
)
def test_unreadable_messages_are_refused_whole(payload: bytes, reason: RejectReason) -> None:
    points, result = decode(payload)
    assert points == []
    assert result.error is reason
    assert result.rejects == {reason: 1}


def test_size_limit_is_checked_before_parsing() -> None:
    points, result = decode(b"x" * (LIMITS.max_payload_bytes + 1))  # not JSON either: size wins
    assert result.error is R.TOO_LARGE
    assert points == []


def test_text_with_nul_or_lone_surrogate_is_refused() -> None:
    points, result = decode('{"a": "x\\u0000y", "b": "\\ud800", "c": "ok"}')
    assert points == [("c", RECEIVED_MS, None, "ok")]
    assert result.rejects == {R.UNSUPPORTED_VALUE: 2}


def test_extra_keys_next_to_ts_and_values_are_counted() -> None:
    points, result = decode(f'{{"ts": {NOW_MS}, "values": {{"a": 1}}, "junk": 2}}')
    assert points == [("a", NOW_MS, 1.0, None)]
    assert result.rejects == {R.WRONG_SHAPE: 1}


PROFILE = DeviceProfile(
    id="p1",
    tenant_id="t1",
    name="compressor",
    strict=True,
    keys=(
        TelemetryKeySpec("pressure_bar", min_value=0, max_value=16),
        TelemetryKeySpec("power_kw", min_value=0),
        TelemetryKeySpec("fault", kind=KeyKind.TEXT),
    ),
)


def test_strict_profile_refuses_unknown_keys_and_out_of_range_values() -> None:
    policy = KeyPolicy.from_profile(PROFILE)
    payload = '{"pressure_bar": 7.5, "power_kw": -1, "other": 1, "fault": "E12", "pressure_bar_x": 2}'
    points, result = decode(payload, policy)
    assert points == [("pressure_bar", RECEIVED_MS, 7.5, None), ("fault", RECEIVED_MS, None, "E12")]
    assert result.rejects == {R.OUT_OF_RANGE: 1, R.UNKNOWN_KEY: 2}
    assert ("power_kw", R.OUT_OF_RANGE) in result.examples


def test_declared_kinds_refuse_the_other_type() -> None:
    policy = KeyPolicy.from_profile(PROFILE)
    points, result = decode('{"pressure_bar": "high", "fault": 3, "pressure_bar ": 1}', policy)
    assert points == []
    assert result.rejects == {R.UNSUPPORTED_VALUE: 2, R.BAD_KEY: 1}


def test_range_bounds_are_inclusive() -> None:
    policy = KeyPolicy.from_profile(PROFILE)
    points, result = decode('{"pressure_bar": 16, "power_kw": 0}', policy)
    assert [p[2] for p in points] == [16.0, 0.0]
    assert result.rejects == {}


def test_client_attributes_accept_any_json_value_under_valid_keys() -> None:
    payload = (
        b'{"fw": "1.2", "cfg": {"a": [1, 2, null]}, "on": true, "bad key": 1, "x": NaN, "y": [Infinity]}'
    )
    result = decode_attributes(payload, max_payload_bytes=1024)
    assert result.attributes == {"fw": "1.2", "cfg": {"a": [1, 2, None]}, "on": True}
    assert result.accepted == 3
    assert result.rejects == {R.BAD_KEY: 1, R.NON_FINITE: 2}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"[1]", R.WRONG_SHAPE), (b"{", R.MALFORMED_JSON), (b"{}" + b" " * 2000, R.TOO_LARGE)],
)
def test_unreadable_attribute_messages_are_refused_whole(payload: bytes, reason: RejectReason) -> None:
    result = decode_attributes(payload, max_payload_bytes=1024)
    assert result.error is reason
    assert result.attributes == {}


number_values = st.dictionaries(
    st.sampled_from(["a", "b", "c", "t", "bad key!"]),
    st.one_of(
        st.floats(),  # NaN and infinities included
        st.integers(min_value=-(2**70), max_value=2**70),
        st.booleans(),
        texts,
    ),
    max_size=5,
)
policies = st.builds(
    KeyPolicy,
    strict=st.booleans(),
    declared=st.frozensets(st.sampled_from(["a", "b", "c", "t"])),
    text_keys=st.frozensets(st.just("t"), max_size=1),
    ranges=st.dictionaries(st.sampled_from(["a", "b"]), st.just((0.0, 10.0)), max_size=1),
)


@given(st.lists(number_values, min_size=1, max_size=3), policies)
def test_the_all_numbers_fast_path_decides_exactly_as_the_per_value_path(
    docs: list[dict[str, Any]], policy: KeyPolicy
) -> None:
    raw = json.dumps([{"ts": NOW_MS, "values": d} for d in docs])  # NaN/Infinity literals included
    fast = decode(raw, policy)
    with patch("openiiot.services.payloads._plain_numbers", return_value=None):
        slow = decode(raw, policy)
    (fast_points, fast_result), (slow_points, slow_result) = fast, slow
    assert fast_points == slow_points
    assert fast_result.accepted == slow_result.accepted
    assert (fast_result.rejects, fast_result.error) == (slow_result.rejects, slow_result.error)
