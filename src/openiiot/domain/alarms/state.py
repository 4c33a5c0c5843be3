"""The evaluation state of one rule for one originator: windows and timers, JSON-serialisable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openiiot.domain.alarms.baseline import WindowSums
from openiiot.domain.errors import ValidationFailed

STATE_VERSION = 1  # `to_dict`: the whole state in one document
ROW_VERSION = 2  # `to_row`: the state without its windows' samples, which are stored apart (decision 0015)
WINDOW_SERIES = "w:"  # series name prefix of a rate or deviation window (`windows`)
COUNT_SERIES = "c:"  # series name prefix of a count window (`count_ts_ms`)
MAX_WINDOW_SAMPLES = 10_000  # per window node; beyond it the oldest samples go (the window gets shorter)

Sample = tuple[int, float | str]  # ts_ms, value


@dataclass(slots=True)
class RuleState:
    """Everything `evaluate` needs to continue where it stopped, and nothing older than the windows need.

    Node-keyed maps use the node's JSON path in the rule (`levels[0].condition.children[1]`); the rule's
    fingerprint guards against reusing them after the rule changed.
    """

    rule_fingerprint: str = ""
    started_ms: int | None = None  # first evaluation: the reference for never-seen keys and devices
    last_eval_ms: int | None = None  # samples older than this arrive too late and are ignored
    last_activity_ms: int | None = None
    active_severity: str | None = None  # the severity of the alarm the rule holds raised, or None
    clear_since_ms: int | None = None  # off-delay timer
    level_since_ms: dict[str, int] = field(default_factory=dict)  # on-delay timers per severity
    latest: dict[str, Sample] = field(default_factory=dict)  # latest sample per telemetry key
    duration_since_ms: dict[str, int] = field(default_factory=dict)
    count_ts_ms: dict[str, list[int]] = field(default_factory=dict)
    windows: dict[str, list[Sample]] = field(default_factory=dict)  # rate and deviation samples
    deviation_verdicts: dict[str, bool] = field(default_factory=dict)
    # running sums of the deviation windows: derived from `windows`, rebuilt when missing, never stored
    deviation_sums: dict[str, WindowSums] = field(default_factory=dict, compare=False, repr=False)
    # items appended to each series (`series()` names) since the state was last stored, so that a store
    # writes only those (decision 0015); bookkeeping of the engine, never stored, not part of the state
    appended: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def copy(self) -> RuleState:
        """A deep copy (the evaluator never mutates its input)."""
        return RuleState(
            rule_fingerprint=self.rule_fingerprint,
            started_ms=self.started_ms,
            last_eval_ms=self.last_eval_ms,
            last_activity_ms=self.last_activity_ms,
            active_severity=self.active_severity,
            clear_since_ms=self.clear_since_ms,
            level_since_ms=dict(self.level_since_ms),
            latest=dict(self.latest),
            duration_since_ms=dict(self.duration_since_ms),
            count_ts_ms={k: list(v) for k, v in self.count_ts_ms.items()},
            windows={k: list(v) for k, v in self.windows.items()},
            deviation_verdicts=dict(self.deviation_verdicts),
            deviation_sums={k: v.copy() for k, v in self.deviation_sums.items()},
            appended=dict(self.appended),
        )

    def series(self) -> dict[str, list[Any]]:
        """The windows by series name (`w:<path>` for rate and deviation, `c:<path>` for counts): the lists
        that only grow at the end and shrink at the front, so each is a suffix of everything appended."""
        found: dict[str, list[Any]] = {}
        for k, w in self.windows.items():
            found[WINDOW_SERIES + k] = w
        for k, v in self.count_ts_ms.items():
            found[COUNT_SERIES + k] = v
        return found

    def _timers_and_latest(self) -> dict[str, Any]:
        """The fields `to_row` and `to_dict` share: everything but the windows and the count series."""
        return {
            "rule_fingerprint": self.rule_fingerprint,
            "started_ms": self.started_ms,
            "last_eval_ms": self.last_eval_ms,
            "last_activity_ms": self.last_activity_ms,
            "active_severity": self.active_severity,
            "clear_since_ms": self.clear_since_ms,
            "level_since_ms": dict(self.level_since_ms),
            "latest": {k: [ts, v] for k, (ts, v) in self.latest.items()},
            "duration_since_ms": dict(self.duration_since_ms),
        }

    def to_row(self, series: Mapping[str, Sequence[Any]] | None = None) -> dict[str, Any]:
        """The state without its windows' items, which are stored apart: "series" gives each window's
        length; `from_row` with the last that many items of each series restores an equal state.
        `series` is `self.series()` when the caller has it already."""
        if series is None:
            series = self.series()
        return {
            "version": ROW_VERSION,
            **self._timers_and_latest(),
            "series": {name: len(items) for name, items in series.items()},
            "deviation_verdicts": dict(self.deviation_verdicts),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any], series: Mapping[str, Sequence[Any]]) -> RuleState:
        """Restore a state written by `to_row`, given the items of each of its series (exactly as many as
        the row says); a malformed row or a series of the wrong length raises ValidationFailed."""
        if row.get("version") != ROW_VERSION:
            raise ValidationFailed(f"unsupported rule state version {row.get('version')!r}", field="version")
        full = {k: v for k, v in row.items() if k != "series"}
        windows: dict[str, Sequence[Any]] = {}
        counts: dict[str, Sequence[Any]] = {}
        try:
            for name, n in row["series"].items():
                items = series[name]
                if len(items) != n:
                    raise ValueError(f"window {name} has {len(items)} items, not {n}")
                if name.startswith(WINDOW_SERIES):
                    windows[name[len(WINDOW_SERIES) :]] = items
                elif name.startswith(COUNT_SERIES):
                    counts[name[len(COUNT_SERIES) :]] = items
                else:
                    raise ValueError(f"unknown series {name!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationFailed(f"malformed rule state: {exc}", field="series") from exc
        full["windows"], full["count_ts_ms"] = windows, counts
        return cls._from_fields(full)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict; `from_dict` restores an equal state.

        Window samples stay (ts, value) tuples, which JSON encoders write as arrays: copying each of a long
        window's samples into a list on every write cost more than evaluating the rule."""
        return {
            "version": STATE_VERSION,
            **self._timers_and_latest(),
            "count_ts_ms": {k: list(v) for k, v in self.count_ts_ms.items()},
            "windows": {k: list(w) for k, w in self.windows.items()},
            "deviation_verdicts": dict(self.deviation_verdicts),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RuleState:
        """Restore a state written by `to_dict`; a malformed one raises ValidationFailed."""
        if raw.get("version") != STATE_VERSION:
            raise ValidationFailed(f"unsupported rule state version {raw.get('version')!r}", field="version")
        return cls._from_fields(raw)

    @classmethod
    def _from_fields(cls, raw: Mapping[str, Any]) -> RuleState:
        try:
            return cls(
                rule_fingerprint=str(raw["rule_fingerprint"]),
                started_ms=_opt_int(raw["started_ms"]),
                last_eval_ms=_opt_int(raw["last_eval_ms"]),
                last_activity_ms=_opt_int(raw["last_activity_ms"]),
                active_severity=None if raw["active_severity"] is None else str(raw["active_severity"]),
                clear_since_ms=_opt_int(raw["clear_since_ms"]),
                level_since_ms={str(k): int(v) for k, v in raw["level_since_ms"].items()},
                latest={str(k): (int(ts), _value(v)) for k, (ts, v) in raw["latest"].items()},
                duration_since_ms={str(k): int(v) for k, v in raw["duration_since_ms"].items()},
                count_ts_ms={str(k): [int(t) for t in v] for k, v in raw["count_ts_ms"].items()},
                windows={str(k): [(int(ts), _value(v)) for ts, v in w] for k, w in raw["windows"].items()},
                deviation_verdicts={str(k): bool(v) for k, v in raw["deviation_verdicts"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationFailed(f"malformed rule state: {exc}", field="state") from exc


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _value(value: Any) -> float | str:
    return value if isinstance(value, str) else float(value)
