"""Decoder of ThingsBoard JSON device payloads: telemetry and client attributes (architecture section 4).

Pure functions over bytes. Valid entries of a message survive next to invalid ones: every refused value is
counted under a stable `RejectReason`, and only a message that cannot be read at all is refused whole.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import msgspec

from openiiot.domain.model import DeviceProfile, JsonValue, KeyKind
from openiiot.domain.telemetry import Quality, TelemetryBatch


class RejectReason(StrEnum):
    """Why a message or a value was refused; the names are stable (metrics labels, API answers)."""

    MALFORMED_JSON = "malformed_json"
    WRONG_SHAPE = "wrong_shape"
    BAD_TIMESTAMP = "bad_timestamp"
    TS_IN_FUTURE = "ts_in_future"
    TS_TOO_OLD = "ts_too_old"
    NON_FINITE = "non_finite"
    UNSUPPORTED_VALUE = "unsupported_value"
    BAD_KEY = "bad_key"
    UNKNOWN_KEY = "unknown_key"
    OUT_OF_RANGE = "out_of_range"
    TOO_LARGE = "too_large"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    TOPIC_MISMATCH = "topic_mismatch"
    UNAUTHORIZED = "unauthorized"
    INTERNAL_ERROR = "internal_error"
    BAD_DEVICE_NAME = "bad_device_name"  # a gateway named a child with an unusable name
    NOT_A_CHILD = "not_a_child"  # a gateway named a device that is not its child (decision 0013)
    NOT_A_GATEWAY = "not_a_gateway"  # a device without the "is gateway" flag used the gateway topics
    TOO_MANY_CHILDREN = "too_many_children"  # a new child would exceed OPENIIOT_GATEWAY_MAX_CHILDREN


MAX_EXAMPLES: Final = 10  # rejected (field, reason) pairs kept per message to explain a 400 answer


@dataclass(slots=True)
class DecodeResult:
    """What one message yielded: accepted count, rejects per reason, and a whole-message reason if refused."""

    accepted: int = 0
    rejects: dict[RejectReason, int] = field(default_factory=dict)
    error: RejectReason | None = None
    examples: list[tuple[str, RejectReason]] = field(default_factory=list)
    attributes: dict[str, JsonValue] = field(default_factory=dict)  # attributes channel only

    def reject(self, reason: RejectReason, where: str, count: int = 1) -> None:
        """Count `count` refused values under `reason`; `where` names the key or part of the message."""
        self.rejects[reason] = self.rejects.get(reason, 0) + count
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((where, reason))

    def refuse(self, reason: RejectReason) -> DecodeResult:
        """Refuse the whole message (counted once) and return self."""
        self.error = reason
        self.reject(reason, "$")
        return self


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds applied to every message: size before parsing, timestamp window around `now_ms`."""

    max_payload_bytes: int
    max_future_ms: int
    max_past_ms: int


_INF: Final = math.inf


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What a device profile allows, precomputed for the hot path."""

    strict: bool = False
    declared: frozenset[str] = frozenset()
    text_keys: frozenset[str] = frozenset()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: DeviceProfile) -> KeyPolicy:
        """Derive the policy of a profile: declared keys, text keys and valid ranges."""
        ranges = {
            s.key: (
                -_INF if s.min_value is None else s.min_value,
                _INF if s.max_value is None else s.max_value,
            )
            for s in profile.keys
            if s.min_value is not None or s.max_value is not None
        }
        return cls(
            strict=profile.strict,
            declared=frozenset(s.key for s in profile.keys),
            text_keys=frozenset(s.key for s in profile.keys if s.kind is KeyKind.TEXT),
            ranges=ranges,
        )


PERMISSIVE: Final = KeyPolicy()

_KEY_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # the rule of domain.model.validate_key_name
_VALID_KEYS: set[str] = set()  # keys repeat across messages: remember valid ones instead of re-matching
_VALID_KEYS_MAX: Final = 65536


def _key_ok(key: str) -> bool:
    if key in _VALID_KEYS:
        return True
    if _KEY_RE.fullmatch(key) is None:
        return False
    if len(_VALID_KEYS) >= _VALID_KEYS_MAX:
        _VALID_KEYS.clear()  # bounded memory against devices inventing keys; races only cost a re-match
    _VALID_KEYS.add(key)
    return True


class _NonFinite:
    """Marks a NaN/Infinity literal found by the lenient fallback parser."""


_NON_FINITE: Final = _NonFinite()
_DECODER: Final = msgspec.json.Decoder()


def _parse(payload: bytes) -> tuple[Any, bool]:
    """Parse JSON: (value, ok). Strict msgspec first; on failure the stdlib, which reads NaN/Infinity literals
    (marked, so that only those values are refused and the rest of the message survives)."""
    try:
        return _DECODER.decode(payload), True
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        text = payload.decode("utf-8")
        return json.loads(text, parse_constant=lambda _name: _NON_FINITE), True
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, False


def _text_ok(text: str) -> bool:
    # Lone surrogates cannot be stored as UTF-8 and NUL cannot be stored in PostgreSQL text.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NUMBER_TYPES: Final = frozenset({float, int, bool})


def _plain_numbers(values: dict[Any, Any], policy: KeyPolicy) -> list[float] | None:
    """The values as floats when every one is a finite number under a known-valid key that the policy takes
    without a range check; None otherwise (then `_add_values` looks at each value). Set operations and
    `map` run in C: this is the ingest hot path."""
    if not (
        _VALID_KEYS.issuperset(values)
        and _NUMBER_TYPES.issuperset(map(type, values.values()))
        and policy.text_keys.isdisjoint(values)
        and (not policy.strict or policy.declared.issuperset(values))
        and (not policy.ranges or policy.ranges.keys().isdisjoint(values))
    ):
        return None
    try:
        numbers = list(map(float, values.values()))  # int and bool to float, as the per-value path does
    except OverflowError:  # an integer beyond float64
        return None
    # NaN and infinities propagate through a sum; a sum of finite values that overflows takes the slow path
    return numbers if math.isfinite(sum(numbers)) else None


def _add_values(
    values: dict[Any, Any],
    ts_ms: int,
    device_id: str,
    policy: KeyPolicy,
    out: TelemetryBatch,
    result: DecodeResult,
) -> None:
    """Append every valid value of one `{key: value}` object to `out`; count the rest."""
    numbers = _plain_numbers(values, policy)
    if numbers is not None:
        out.add_numbers(device_id, ts_ms, values, numbers)
        result.accepted += len(numbers)
        return
    strict, declared, text_keys, ranges = policy.strict, policy.declared, policy.text_keys, policy.ranges
    accepted = 0
    for key, raw in values.items():
        if not _key_ok(key):
            result.reject(RejectReason.BAD_KEY, str(key)[:64])
            continue
        if strict and key not in declared:
            result.reject(RejectReason.UNKNOWN_KEY, key)
            continue
        kind = type(raw)
        text: str | None = None
        if kind is float:
            value: float | None = raw
            if not math.isfinite(raw):
                result.reject(RejectReason.NON_FINITE, key)
                continue
        elif kind is int:
            try:
                value = float(raw)
            except OverflowError:  # an integer beyond float64 would be stored as infinity
                result.reject(RejectReason.NON_FINITE, key)
                continue
        elif kind is bool:
            value = 1.0 if raw else 0.0
        elif kind is str:
            if (key in declared and key not in text_keys) or not _text_ok(raw):
                result.reject(RejectReason.UNSUPPORTED_VALUE, key)
                continue
            value, text = None, raw
        else:
            reason = RejectReason.NON_FINITE if raw is _NON_FINITE else RejectReason.UNSUPPORTED_VALUE
            result.reject(reason, key)
            continue
        if value is not None:
            if key in text_keys:
                result.reject(RejectReason.UNSUPPORTED_VALUE, key)
                continue
            bounds = ranges.get(key)
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                result.reject(RejectReason.OUT_OF_RANGE, key)
                continue
        out.add(device_id, key, ts_ms, value, text, Quality.GOOD)
        accepted += 1
    result.accepted += accepted


def _check_ts(raw: Any, now_ms: int, limits: DecodeLimits) -> int | RejectReason:
    """The timestamp in integer ms, or why it is refused (bool and strings are not timestamps)."""
    kind = type(raw)
    if kind is int:
        ts_ms: int = raw
    elif kind is float and math.isfinite(raw):
        ts_ms = int(raw)  # float milliseconds are truncated
    else:
        return RejectReason.BAD_TIMESTAMP
    if ts_ms > now_ms + limits.max_future_ms:
        return RejectReason.TS_IN_FUTURE
    if ts_ms < now_ms - limits.max_past_ms:
        return RejectReason.TS_TOO_OLD
    return ts_ms


def _add_entry(
    entry: Any,
    device_id: str,
    received_ms: int,
    now_ms: int,
    limits: DecodeLimits,
    policy: KeyPolicy,
    out: TelemetryBatch,
    result: DecodeResult,
) -> None:
    """Decode one object: `{"ts": ms, "values": {...}}` or `{"key": value, ...}` stamped `received_ms`."""
    if type(entry) is not dict:
        result.reject(RejectReason.WRONG_SHAPE, "$")
        return
    if "ts" not in entry or "values" not in entry:
        _add_values(entry, received_ms, device_id, policy, out, result)
        return
    values = entry["values"]
    if len(entry) > 2:
        for extra in entry.keys() - {"ts", "values"}:
            result.reject(RejectReason.WRONG_SHAPE, str(extra)[:64])
    if type(values) is not dict:
        result.reject(RejectReason.WRONG_SHAPE, "values")
        return
    ts = _check_ts(entry["ts"], now_ms, limits)
    if isinstance(ts, RejectReason):
        if values:  # count every value the bad timestamp takes with it
            result.reject(ts, "ts", len(values))
        else:
            result.reject(ts, "ts")
        return
    _add_values(values, ts, device_id, policy, out, result)


def decode_telemetry(
    payload: bytes,
    *,
    device_id: str,
    received_ms: int,
    now_ms: int,
    limits: DecodeLimits,
    policy: KeyPolicy = PERMISSIVE,
    out: TelemetryBatch | None = None,
) -> DecodeResult:
    """Decode a telemetry message, appending accepted points to `out` (a fresh batch when None)."""
    result = DecodeResult()
    if len(payload) > limits.max_payload_bytes:
        return result.refuse(RejectReason.TOO_LARGE)
    doc, ok = _parse(payload)
    if not ok:
        return result.refuse(RejectReason.MALFORMED_JSON)
    batch = TelemetryBatch() if out is None else out
    if type(doc) is dict:
        _add_entry(doc, device_id, received_ms, now_ms, limits, policy, batch, result)
    elif type(doc) is list:
        for entry in doc:
            _add_entry(entry, device_id, received_ms, now_ms, limits, policy, batch, result)
    else:
        return result.refuse(RejectReason.WRONG_SHAPE)
    return result


def _json_ok(value: Any) -> bool:
    """True when `value` holds only finite numbers and storable text, all the way down."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is str:
        return _text_ok(value)
    if kind is dict:
        return all(_text_ok(k) and _json_ok(v) for k, v in value.items())
    if kind is list:
        return all(_json_ok(v) for v in value)
    return value is None or kind is bool or kind is int


def _attribute_reason(value: Any) -> RejectReason | None:
    if value is _NON_FINITE:
        return RejectReason.NON_FINITE
    try:
        if _json_ok(value):
            return None
    except RecursionError:
        return RejectReason.UNSUPPORTED_VALUE
    return RejectReason.NON_FINITE if _has_non_finite(value) else RejectReason.UNSUPPORTED_VALUE


def _has_non_finite(value: Any) -> bool:
    if value is _NON_FINITE or (type(value) is float and not math.isfinite(value)):
        return True
    if type(value) is dict:
        return any(_has_non_finite(v) for v in value.values())
    if type(value) is list:
        return any(_has_non_finite(v) for v in value)
    return False


def decode_attributes(payload: bytes, *, max_payload_bytes: int) -> DecodeResult:
    """Decode client attributes `{"key": any JSON value}`; accepted ones are in `result.attributes`."""
    result = DecodeResult()
    if len(payload) > max_payload_bytes:
        return result.refuse(RejectReason.TOO_LARGE)
    doc, ok = _parse(payload)
    if not ok:
        return result.refuse(RejectReason.MALFORMED_JSON)
    if type(doc) is not dict:
        return result.refuse(RejectReason.WRONG_SHAPE)
    for key, value in doc.items():
        if not _key_ok(key):
            result.reject(RejectReason.BAD_KEY, str(key)[:64])
            continue
        reason = _attribute_reason(value)
        if reason is not None:
            result.reject(reason, key)
            continue
        result.attributes[key] = value
    result.accepted = len(result.attributes)
    return result
