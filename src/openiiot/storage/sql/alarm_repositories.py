"""SQL storage of alarm rules, per-(rule, originator) evaluator state and alarms (migration 0003)."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from openiiot.domain.alarms import Alarm, alarm_from_dict, alarm_to_dict
from openiiot.domain.errors import Conflict
from openiiot.services.ports import AlarmRuleRecord, StateWrite, WindowChunk, WindowTrim
from openiiot.storage.sql.repository_base import SqlRepository
from openiiot.storage.sql.tables import ID, Base, HotJsonType, JsonType


class AlarmRuleRow(Base):
    """An alarm rule of a device profile; the rule itself is JSON (always read and written whole)."""

    __tablename__ = "alarm_rules"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    profile_id: Mapped[str | None] = mapped_column(ID, ForeignKey("device_profiles.id"), index=True)
    asset_id: Mapped[str | None] = mapped_column(ID, ForeignKey("assets.id"), index=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JsonType)
    enabled: Mapped[bool] = mapped_column(Boolean)


class AlarmRuleStateRow(Base):
    """The evaluator state of one rule for one originator, as JSON: survives restarts, shared by processes."""

    __tablename__ = "alarm_rule_states"

    rule_id: Mapped[str] = mapped_column(ID, primary_key=True)
    originator_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    state: Mapped[dict[str, Any]] = mapped_column(HotJsonType)
    # optimistic concurrency: SQLAlchemy updates `WHERE version = <read version>` and raises StaleDataError
    # when another process changed the row since this unit of work read it (decision 0007)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": version}


_STATE_TABLE = typing.cast(Table, AlarmRuleStateRow.__table__)
_UPDATE_STATE = (
    update(_STATE_TABLE)
    .where(
        _STATE_TABLE.c.rule_id == bindparam("r"),
        _STATE_TABLE.c.originator_id == bindparam("o"),
        _STATE_TABLE.c.version == bindparam("v"),
    )
    .values(state=bindparam("s"), version=bindparam("nv"))
)


class AlarmWindowChunkRow(Base):
    """Items appended to one window of a rule state by one state write (migration 0012, decision 0015):
    a write adds its new items as one row instead of rewriting the whole window with the state."""

    __tablename__ = "alarm_window_chunks"

    originator_id: Mapped[str] = mapped_column(ID, primary_key=True)
    rule_id: Mapped[str] = mapped_column(ID, primary_key=True)
    series: Mapped[str] = mapped_column(String(400), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    items: Mapped[list[Any]] = mapped_column(HotJsonType)


_CHUNK_TABLE = typing.cast(Table, AlarmWindowChunkRow.__table__)
_TRIM_CHUNKS = delete(_CHUNK_TABLE).where(
    _CHUNK_TABLE.c.originator_id == bindparam("o"),
    _CHUNK_TABLE.c.rule_id == bindparam("r"),
    _CHUNK_TABLE.c.series == bindparam("s"),
    _CHUNK_TABLE.c.seq < bindparam("b"),
)


class AlarmRow(Base):
    """An alarm; the searchable fields are columns, the whole alarm with its history is JSON."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_tenant_id_raised_ms", "tenant_id", "raised_ms"),
        # one open alarm per (originator, rule): a second concurrent raise fails instead of duplicating
        Index(
            "uq_alarms_open_originator_id_rule_id",
            "originator_id",
            "rule_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id"))
    originator_id: Mapped[str] = mapped_column(ID)
    rule_id: Mapped[str] = mapped_column(ID)
    severity: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean)
    raised_ms: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)


def _rule_record(row: AlarmRuleRow) -> AlarmRuleRecord:
    return AlarmRuleRecord(row.id, row.tenant_id, row.profile_id, dict(row.rule), row.enabled, row.asset_id)


class SqlAlarmRepository(SqlRepository):
    """Alarm rules, rule state and alarms in SQL."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._read_states: dict[tuple[str, str], AlarmRuleStateRow | None] = {}

    def add_rule(self, record: AlarmRuleRecord) -> None:
        """Store a new rule."""
        self._session.add(
            AlarmRuleRow(
                id=record.id,
                tenant_id=record.tenant_id,
                profile_id=record.profile_id,
                asset_id=record.asset_id,
                rule=record.rule,
                enabled=record.enabled,
            )
        )
        self._flush()

    def get_rule(self, tenant_id: str | None, rule_id: str) -> AlarmRuleRecord:
        """The rule, or NotFound (also for another tenant's rule)."""
        return _rule_record(self._scoped_get(AlarmRuleRow, "alarm rule", tenant_id, rule_id))

    def list_rules(
        self,
        tenant_id: str | None,
        *,
        profile_id: str | None = None,
        asset_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AlarmRuleRecord]:
        """Rules ordered by id, optionally of one profile or one asset."""
        stmt = select(AlarmRuleRow).order_by(AlarmRuleRow.id)
        if tenant_id is not None:
            stmt = stmt.where(AlarmRuleRow.tenant_id == tenant_id)
        if profile_id is not None:
            stmt = stmt.where(AlarmRuleRow.profile_id == profile_id)
        if asset_id is not None:
            stmt = stmt.where(AlarmRuleRow.asset_id == asset_id)
        return [_rule_record(r) for r in self._page(stmt, offset, limit)]

    def update_rule(self, record: AlarmRuleRecord) -> None:
        """Replace a rule's JSON and enabled flag."""
        row = self._scoped_get(AlarmRuleRow, "alarm rule", record.tenant_id, record.id)
        row.rule, row.enabled = record.rule, record.enabled
        self._flush()

    def delete_rule(self, tenant_id: str | None, rule_id: str) -> None:
        """Delete a rule and its evaluator state; its alarms stay as history."""
        row = self._scoped_get(AlarmRuleRow, "alarm rule", tenant_id, rule_id)
        for state in self._session.scalars(
            select(AlarmRuleStateRow).where(AlarmRuleStateRow.rule_id == rule_id)
        ):
            self._session.delete(state)
        self._session.execute(delete(_CHUNK_TABLE).where(_CHUNK_TABLE.c.rule_id == rule_id))
        self._session.delete(row)
        self._flush()

    def get_state(self, rule_id: str, originator_id: str) -> dict[str, Any] | None:
        """The stored evaluator state, or None before the first evaluation."""
        row = self._session.get(AlarmRuleStateRow, (rule_id, originator_id))
        # remember what was read (the session's identity map holds rows only weakly): save_state must
        # write over exactly this version, or insert exactly when there was no row
        self._read_states[(rule_id, originator_id)] = row
        return None if row is None else dict(row.state)

    def get_states(self, rule_ids: Sequence[str], originator_id: str) -> dict[str, dict[str, Any] | None]:
        """The stored states of several rules for one originator, in one query (None: not evaluated yet)."""
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(rule_ids)
        if not rule_ids:
            return found
        stmt = select(AlarmRuleStateRow).where(
            AlarmRuleStateRow.originator_id == originator_id, AlarmRuleStateRow.rule_id.in_(list(rule_ids))
        )
        rows = {row.rule_id: row for row in self._session.scalars(stmt)}
        for rule_id in rule_ids:
            row = rows.get(rule_id)
            self._read_states[(rule_id, originator_id)] = row
            found[rule_id] = None if row is None else dict(row.state)
        return found

    def save_state(self, rule_id: str, originator_id: str, tenant_id: str, state: dict[str, Any]) -> None:
        """Insert or replace the evaluator state; written at the next flush or commit, where a state changed
        by another process since it was read is a Conflict (decision 0007)."""
        key = (rule_id, originator_id)
        if key in self._read_states:
            row = self._read_states[key]
        else:
            row = self._session.get(AlarmRuleStateRow, key)
        if row is None:
            row = AlarmRuleStateRow(
                rule_id=rule_id, originator_id=originator_id, tenant_id=tenant_id, state=state
            )
            self._read_states[key] = row
            self._session.add(row)
        else:
            row.state = state

    def get_versioned_states(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
        """States and versions of several (rule, originator) pairs, by originator in one query each batch."""
        found: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
        wanted = set(keys)
        originators = sorted({o for _, o in wanted})
        table = _STATE_TABLE
        for i in range(0, len(originators), 500):
            chunk = originators[i : i + 500]
            stmt = select(table.c.rule_id, table.c.originator_id, table.c.state, table.c.version).where(
                table.c.originator_id.in_(chunk)
            )
            for rule_id, originator_id, state, version in self._session.execute(stmt):
                if (rule_id, originator_id) in wanted:
                    found[(rule_id, originator_id)] = (dict(state), int(version))
        return found

    def write_states(self, writes: Sequence[StateWrite]) -> None:
        """Versioned writes without loading rows: UPDATE ... WHERE version = read version, or INSERT."""
        table = _STATE_TABLE
        inserts = [w for w in writes if w.expected_version is None]
        updates = [
            {
                "r": w.rule_id,
                "o": w.originator_id,
                "v": w.expected_version,
                "s": w.state,
                "nv": w.expected_version + 1,
            }
            for w in writes
            if w.expected_version is not None
        ]
        if updates:  # one statement, executed for every row; each matches at most one row (primary key)
            result = self._session.connection().execute(_UPDATE_STATE, updates)
            if result.rowcount != len(updates):
                raise Conflict("an alarm rule state was changed by another process")
        if inserts:
            try:  # a failed insert dooms the transaction: the caller rolls back and evaluates again
                self._session.execute(
                    insert(table),
                    [
                        {"rule_id": w.rule_id, "originator_id": w.originator_id, "tenant_id": w.tenant_id,
                         "state": w.state, "version": 1}
                        for w in inserts
                    ],
                )  # fmt: skip
            except IntegrityError as exc:
                raise Conflict("alarm rule state created by another process") from exc

    def read_window_chunks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[WindowChunk]]:
        """The chunks of several (rule, originator) pairs by series and seq, read by originator (the
        primary key's first column)."""
        found: dict[tuple[str, str], list[WindowChunk]] = {}
        wanted = set(keys)
        originators = sorted({o for _, o in wanted})
        t = _CHUNK_TABLE
        for i in range(0, len(originators), 500):
            stmt = (
                select(t.c.rule_id, t.c.originator_id, t.c.series, t.c.seq, t.c["items"])
                .where(t.c.originator_id.in_(originators[i : i + 500]))
                .order_by(t.c.originator_id, t.c.rule_id, t.c.series, t.c.seq)
            )
            for rule_id, originator_id, series, seq, items in self._session.execute(stmt):
                key = (rule_id, originator_id)
                if key in wanted:
                    found.setdefault(key, []).append(WindowChunk(rule_id, originator_id, series, seq, items))
        return found

    def write_window_chunks(self, appends: Sequence[WindowChunk], trims: Sequence[WindowTrim]) -> None:
        """One executemany DELETE for the trims, one INSERT for the new chunks."""
        connection = self._session.connection()
        if trims:
            connection.execute(
                _TRIM_CHUNKS,
                [{"o": t.originator_id, "r": t.rule_id, "s": t.series, "b": t.below_seq} for t in trims],
            )
        if appends:
            try:
                connection.execute(
                    insert(_CHUNK_TABLE),
                    [
                        {"originator_id": c.originator_id, "rule_id": c.rule_id, "series": c.series,
                         "seq": c.seq, "items": c.items}
                        for c in appends
                    ],
                )  # fmt: skip
            except IntegrityError as exc:
                raise Conflict("an alarm rule window was written by another process") from exc

    def get_open_alarm(self, originator_id: str, rule_id: str) -> Alarm | None:
        """The active alarm of (originator, rule), if any."""
        stmt = select(AlarmRow).where(
            AlarmRow.originator_id == originator_id, AlarmRow.rule_id == rule_id, AlarmRow.active.is_(True)
        )
        row = self._session.scalars(stmt).first()
        return None if row is None else alarm_from_dict(dict(row.body))

    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or replace an alarm; a second active alarm of (originator, rule) is a Conflict."""
        values = {
            "tenant_id": alarm.tenant_id,
            "originator_id": alarm.originator_id,
            "rule_id": alarm.rule_id,
            "severity": str(alarm.severity),
            "active": alarm.active,
            "raised_ms": alarm.raised_ms,
            "body": alarm_to_dict(alarm),
        }
        row = self._session.get(AlarmRow, alarm.id)
        if row is None:
            self._session.add(AlarmRow(id=alarm.id, **values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
        self._flush()

    def get_alarm(self, tenant_id: str | None, alarm_id: str) -> Alarm:
        """The alarm, or NotFound (also for another tenant's alarm)."""
        return alarm_from_dict(dict(self._scoped_get(AlarmRow, "alarm", tenant_id, alarm_id).body))

    def list_alarms(
        self,
        tenant_id: str | None,
        *,
        active: bool | None = None,
        severity: str | None = None,
        originator_id: str | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Alarm]:
        """Alarms raised in [from_ms, to_ms), newest first."""
        stmt = select(AlarmRow).order_by(AlarmRow.raised_ms.desc(), AlarmRow.id)
        filters = (
            (tenant_id, AlarmRow.tenant_id),
            (active, AlarmRow.active),
            (severity, AlarmRow.severity),
            (originator_id, AlarmRow.originator_id),
        )
        for value, column in filters:
            if value is not None:
                stmt = stmt.where(column == value)
        if from_ms is not None:
            stmt = stmt.where(AlarmRow.raised_ms >= from_ms)
        if to_ms is not None:
            stmt = stmt.where(AlarmRow.raised_ms < to_ms)
        return [alarm_from_dict(dict(r.body)) for r in self._page(stmt, offset, limit)]
