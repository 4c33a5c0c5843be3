"""Telemetry read handlers: latest values, raw pages, aggregates in the tenant's time zone, consumption."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from openiiot.domain.errors import ValidationFailed
from openiiot.domain.model import Device, DeviceProfile, KeyKind, Principal, validate_key_name
from openiiot.domain.telemetry import Aggregate, AggregateRow, ConsumptionRow, Interval, LatestValue, RawPage
from openiiot.services.authorization import require_reader, scope_of
from openiiot.services.ports import Clock, TelemetryStore, UnitOfWorkFactory

DEFAULT_RANGE_MS = 86_400_000  # without start, queries look back one day
MAX_BUCKETS = 100_000  # an aggregate query answering more rows than this is almost certainly a mistake
MAX_KEYS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A query range [start_ms, end_ms) in UTC milliseconds."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class _Target:
    device: Device
    profile: DeviceProfile
    timezone: str


def parse_instant(text: str, field: str, timezone: str) -> int:
    """Epoch milliseconds from '1700000000000' or ISO 8601; ISO without an offset is tenant local time."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"{field} must be epoch milliseconds or ISO 8601", field=field) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    # exact integer arithmetic: timestamp() * 1000 loses a millisecond to float rounding
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def parse_keys(keys: Sequence[str] | None) -> list[str] | None:
    """Validated key names, or None for every key."""
    if not keys:
        return None
    if len(keys) > MAX_KEYS:
        raise ValidationFailed(f"at most {MAX_KEYS} keys per query", field="keys")
    return [validate_key_name(k, field_name="keys") for k in keys]


def parse_aggregates(names: Sequence[str] | None) -> list[Aggregate]:
    """Aggregate functions by name; avg when none is given."""
    if not names:
        return [Aggregate.AVG]
    result: list[Aggregate] = []
    for name in names:
        try:
            result.append(Aggregate(name.strip().lower()))
        except ValueError as exc:
            known = ", ".join(a.value for a in Aggregate)
            raise ValidationFailed(f"unknown aggregate {name!r}; use {known}", field="agg") from exc
    return list(dict.fromkeys(result))


class TelemetryQueryService:
    """Answers telemetry queries for devices the caller can see."""

    def __init__(self, uow: UnitOfWorkFactory, telemetry: TelemetryStore, clock: Clock) -> None:
        self._uow = uow
        self._store = telemetry
        self._clock = clock

    def _target(self, principal: Principal, device_id: str) -> _Target:
        require_reader(principal)
        with self._uow() as uow:
            device = uow.devices.get(scope_of(principal), device_id)
            profile = uow.profiles.get(device.tenant_id, device.profile_id)
            tenant = uow.tenants.get(device.tenant_id)
        return _Target(device, profile, tenant.timezone)

    def _range(self, start: str | None, end: str | None, timezone: str) -> TimeRange:
        end_ms = parse_instant(end, "end", timezone) if end else self._clock.now_ms() + 1
        start_ms = parse_instant(start, "start", timezone) if start else end_ms - DEFAULT_RANGE_MS
        if end_ms <= start_ms:
            raise ValidationFailed("end must be later than start", field="end")
        return TimeRange(start_ms, end_ms)

    def latest(
        self, principal: Principal, device_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, LatestValue]:
        """The newest value of each (requested) key of the device."""
        wanted = parse_keys(keys)
        target = self._target(principal, device_id)
        return self._store.latest([target.device.id], wanted).get(target.device.id, {})

    def latest_of_fleet(self, principal: Principal, keys: Sequence[str]) -> dict[str, dict[str, LatestValue]]:
        """The newest value of these keys for every device of the caller's tenant(s) that has one: one
        query for the devices in scope and one for the values (fleet views such as machine health)."""
        require_reader(principal)
        wanted = parse_keys(keys)
        if not wanted:
            raise ValidationFailed("name the keys", field="keys")
        with self._uow() as uow:
            ids = [placement[0] for placement in uow.devices.placements(scope_of(principal))]
        if not ids:
            return {}
        found = self._store.latest(ids, wanted)
        return {device_id: values for device_id, values in found.items() if values}

    def raw(
        self,
        principal: Principal,
        device_id: str,
        *,
        keys: Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> RawPage:
        """One page of raw points in [start, end), oldest first."""
        wanted = parse_keys(keys)
        target = self._target(principal, device_id)
        span = self._range(start, end, target.timezone)
        return self._store.raw(
            target.device.id, wanted, span.start_ms, span.end_ms, limit=limit, cursor=cursor
        )

    def aggregate(
        self,
        principal: Principal,
        device_id: str,
        *,
        keys: Sequence[str],
        interval: str,
        aggregates: Sequence[str] | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, list[AggregateRow]]:
        """Aggregates per key per interval; day and month buckets follow the tenant's time zone."""
        wanted = parse_keys(keys)
        if not wanted:
            raise ValidationFailed("name the keys to aggregate", field="keys")
        step = Interval.parse(interval)
        functions = parse_aggregates(aggregates)
        target = self._target(principal, device_id)
        for key in wanted:
            spec = target.profile.key_spec(key)
            if spec is not None and spec.kind is KeyKind.TEXT:
                raise ValidationFailed(f"text key {key!r} cannot be aggregated", field="keys")
        span = self._range(start, end, target.timezone)
        _check_buckets(span, step)
        return self._store.aggregate(
            target.device.id, wanted, span.start_ms, span.end_ms, step, functions, target.timezone
        )

    def consumption(
        self,
        principal: Principal,
        device_id: str,
        *,
        key: str,
        interval: str = "1d",
        start: str | None = None,
        end: str | None = None,
    ) -> list[ConsumptionRow]:
        """Consumption of a counter key per interval (meter resets handled by the store)."""
        validate_key_name(key, field_name="key")
        step = Interval.parse(interval)
        target = self._target(principal, device_id)
        spec = target.profile.key_spec(key)
        if spec is not None and spec.kind is not KeyKind.COUNTER:
            raise ValidationFailed(f"key {key!r} is a {spec.kind.value}, not a counter", field="key")
        span = self._range(start, end, target.timezone)
        _check_buckets(span, step)
        return self._store.consumption(
            target.device.id, key, span.start_ms, span.end_ms, step, target.timezone
        )


def _check_buckets(span: TimeRange, step: Interval) -> None:
    step_ms = step.ms or step.months * 28 * 86_400_000
    if (span.end_ms - span.start_ms) // step_ms > MAX_BUCKETS:
        raise ValidationFailed(f"the range holds more than {MAX_BUCKETS} intervals", field="interval")
