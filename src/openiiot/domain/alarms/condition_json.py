"""JSON form of condition trees: strict parsing that names the path of a mistake, and the inverse."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from openiiot.domain.alarms.conditions import (
    MAX_COUNT,
    MAX_DEPTH,
    MAX_NODES,
    MAX_TIMEOUT_S,
    MAX_WINDOW_S,
    AllOf,
    AnyOf,
    Condition,
    CountInWindow,
    Deviation,
    Duration,
    Inactive,
    NoData,
    Not,
    Op,
    Range,
    RateOfChange,
    RatePer,
    Source,
    Threshold,
    Value,
)
from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import validate_key_name


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class FieldReader:
    """Reads one JSON object at `path`, raising ValidationFailed that names the offending field."""

    def __init__(self, raw: object, path: str, allowed: set[str]) -> None:
        if not isinstance(raw, Mapping):
            raise ValidationFailed(f"{path or 'value'} must be an object", field=path or None)
        for name in raw:
            if name not in allowed:
                raise ValidationFailed(f"unknown field {name!r}", field=_join(path, str(name)))
        self.raw: Mapping[str, Any] = raw
        self.path = path

    def at(self, name: str) -> str:
        """The JSON path of field `name`."""
        return _join(self.path, name)

    def required(self, name: str) -> Any:
        """The field's value; missing is an error."""
        if name not in self.raw or self.raw[name] is None:
            raise ValidationFailed(f"{name} is required", field=self.at(name))
        return self.raw[name]

    def number(self, name: str, *, positive: bool = False, default: float | None = None) -> float:
        """A finite number (not a boolean)."""
        if default is not None and self.raw.get(name) is None:
            return default
        value = self.required(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationFailed(f"{name} must be a finite number", field=self.at(name))
        if positive and value <= 0:
            raise ValidationFailed(f"{name} must be greater than 0", field=self.at(name))
        return float(value)

    def optional_number(self, name: str) -> float | None:
        """A positive finite number, or None when absent."""
        return None if self.raw.get(name) is None else self.number(name, positive=True)

    def integer(self, name: str, lo: int, hi: int, default: int | None = None) -> int:
        """An integer in [lo, hi]."""
        if default is not None and self.raw.get(name) is None:
            return default
        value = self.required(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(f"{name} must be an integer", field=self.at(name))
        if not lo <= value <= hi:
            raise ValidationFailed(f"{name} must be between {lo} and {hi}, got {value}", field=self.at(name))
        return value

    def text(self, name: str, default: str | None = None) -> str:
        """A string."""
        if default is not None and self.raw.get(name) is None:
            return default
        value = self.required(name)
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} must be a string", field=self.at(name))
        return value

    def key(self, name: str = "key") -> str:
        """A telemetry/attribute key name."""
        return validate_key_name(self.text(name), field_name=self.at(name))

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean."""
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise ValidationFailed(f"{name} must be true or false", field=self.at(name))
        return value

    def choice(self, name: str, enum: type[StrEnum], default: str | None = None) -> Any:
        """One of the values of `enum`."""
        value = self.text(name, default)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum)
            raise ValidationFailed(
                f"{name} must be one of {allowed}, got {value!r}", field=self.at(name)
            ) from None


def _window(r: FieldReader, name: str = "window_s") -> int:
    return r.integer(name, 1, MAX_WINDOW_S)


def _parse_threshold(r: FieldReader) -> Threshold:
    op = r.choice("op", Op)
    raw = r.required("value")
    if isinstance(raw, str):
        if op not in (Op.EQ, Op.NE):
            raise ValidationFailed(f"a text value allows only == and !=, not {op.value}", field=r.at("op"))
        value: Value = raw
    else:
        value = r.number("value")
    return Threshold(r.key(), op, value, r.choice("source", Source, "telemetry"))


def _parse_range(r: FieldReader) -> Range:
    lo, hi = r.number("lo"), r.number("hi")
    if lo > hi:
        raise ValidationFailed("lo must not exceed hi", field=r.at("lo"))
    return Range(r.key(), lo, hi, r.boolean("inside", True), r.choice("source", Source, "telemetry"))


def _parse_count(r: FieldReader, depth: int, counter: list[int]) -> CountInWindow:
    inner = parse_condition(r.required("condition"), r.at("condition"), depth + 1, counter)
    if not isinstance(inner, Threshold | Range) or inner.source is not Source.TELEMETRY:
        raise ValidationFailed(
            "a count condition must be a telemetry threshold or range", field=r.at("condition")
        )
    return CountInWindow(inner, r.integer("count", 1, MAX_COUNT), _window(r))


def _parse_deviation(r: FieldReader) -> Deviation:
    sigma, abs_dev = r.optional_number("sigma"), r.optional_number("abs")
    if (sigma is None) == (abs_dev is None):
        raise ValidationFailed("give exactly one of sigma or abs", field=r.at("sigma"))
    return Deviation(r.key(), _window(r), r.integer("min_samples", 2, 100_000), sigma, abs_dev)


def _parse_children(r: FieldReader, depth: int, counter: list[int]) -> tuple[Condition, ...]:
    raw = r.required("children")
    if not isinstance(raw, list):
        raise ValidationFailed("children must be a list", field=r.at("children"))
    if not raw:
        raise ValidationFailed("children must not be empty", field=r.at("children"))
    return tuple(
        parse_condition(child, f"{r.at('children')}[{i}]", depth + 1, counter) for i, child in enumerate(raw)
    )


_FIELDS: dict[str, set[str]] = {
    "threshold": {"key", "op", "value", "source"},
    "range": {"key", "lo", "hi", "inside", "source"},
    "duration": {"condition", "duration_s"},
    "count": {"condition", "count", "window_s"},
    "rate": {"key", "op", "value", "per", "window_s"},
    "deviation": {"key", "window_s", "min_samples", "sigma", "abs"},
    "no_data": {"key", "timeout_s"},
    "inactive": {"timeout_s"},
    "and": {"children"},
    "or": {"children"},
    "not": {"child"},
}


def parse_condition(raw: object, path: str, depth: int = 0, counter: list[int] | None = None) -> Condition:
    """Parse a JSON condition tree; errors name the JSON path of the bad part."""
    counter = [0] if counter is None else counter
    counter[0] += 1
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"conditions nest deeper than {MAX_DEPTH} levels", field=path)
    if counter[0] > MAX_NODES:
        raise ValidationFailed(f"a condition tree may have at most {MAX_NODES} nodes", field=path)
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str) or kind not in _FIELDS:
        allowed = ", ".join(sorted(_FIELDS))
        raise ValidationFailed(f"condition type must be one of {allowed}", field=_join(path, "type"))
    r = FieldReader(raw, path, _FIELDS[kind] | {"type"})
    if kind == "threshold":
        return _parse_threshold(r)
    if kind == "range":
        return _parse_range(r)
    if kind == "duration":
        inner = parse_condition(r.required("condition"), r.at("condition"), depth + 1, counter)
        return Duration(inner, r.integer("duration_s", 1, MAX_WINDOW_S))
    if kind == "count":
        return _parse_count(r, depth, counter)
    if kind == "rate":
        return RateOfChange(
            r.key(), r.choice("op", Op), r.number("value"), r.choice("per", RatePer), _window(r)
        )
    if kind == "deviation":
        return _parse_deviation(r)
    if kind == "no_data":
        return NoData(r.key(), r.integer("timeout_s", 1, MAX_TIMEOUT_S))
    if kind == "inactive":
        return Inactive(r.integer("timeout_s", 1, MAX_TIMEOUT_S))
    if kind == "not":
        return Not(parse_condition(r.required("child"), r.at("child"), depth + 1, counter))
    children = _parse_children(r, depth, counter)
    return AllOf(children) if kind == "and" else AnyOf(children)


def condition_to_dict(node: Condition) -> dict[str, Any]:
    """The JSON form of a condition tree; `parse_condition` reads it back to an equal tree."""
    if isinstance(node, Threshold):
        return {"type": "threshold", "key": node.key, "op": node.op.value, "value": node.value,
                "source": node.source.value}  # fmt: skip
    if isinstance(node, Range):
        return {"type": "range", "key": node.key, "lo": node.lo, "hi": node.hi, "inside": node.inside,
                "source": node.source.value}  # fmt: skip
    if isinstance(node, Duration):
        return {
            "type": "duration",
            "condition": condition_to_dict(node.condition),
            "duration_s": node.duration_s,
        }
    if isinstance(node, CountInWindow):
        return {"type": "count", "condition": condition_to_dict(node.condition), "count": node.count,
                "window_s": node.window_s}  # fmt: skip
    if isinstance(node, RateOfChange):
        return {"type": "rate", "key": node.key, "op": node.op.value, "value": node.value,
                "per": node.per.value, "window_s": node.window_s}  # fmt: skip
    if isinstance(node, Deviation):
        return {"type": "deviation", "key": node.key, "window_s": node.window_s,
                "min_samples": node.min_samples, "sigma": node.sigma, "abs": node.abs_dev}  # fmt: skip
    if isinstance(node, NoData):
        return {"type": "no_data", "key": node.key, "timeout_s": node.timeout_s}
    if isinstance(node, Inactive):
        return {"type": "inactive", "timeout_s": node.timeout_s}
    if isinstance(node, Not):
        return {"type": "not", "child": condition_to_dict(node.child)}
    kind = "and" if isinstance(node, AllOf) else "or"
    return {"type": kind, "children": [condition_to_dict(c) for c in node.children]}
