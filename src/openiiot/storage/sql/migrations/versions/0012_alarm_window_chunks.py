"""Alarm rule windows stored apart from the state row, as chunks appended per write (decision 0015).

Existing states (document version 1, windows inline) become rows of version 2 whose windows are one chunk
each, numbered with the row's version; the downgrade puts them back inline.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a frozen copy of the types and formats at this revision: migrations never import the live models
ID = sa.String(length=64)
JSON_TYPE = sa.Text()  # TEXT on every engine: see tables.JsonText
WINDOW, COUNT = "w:", "c:"  # series name prefixes of `windows` and `count_ts_ms`

_states = sa.table(
    "alarm_rule_states",
    sa.column("rule_id", ID),
    sa.column("originator_id", ID),
    sa.column("state", JSON_TYPE),
    sa.column("version", sa.Integer()),
)
_chunks = sa.table(
    "alarm_window_chunks",
    sa.column("originator_id", ID),
    sa.column("rule_id", ID),
    sa.column("series", sa.String(400)),
    sa.column("seq", sa.Integer()),
    sa.column("items", JSON_TYPE),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def upgrade() -> None:
    """Create alarm_window_chunks and move every stored window into it."""
    op.create_table(
        "alarm_window_chunks",
        sa.Column("originator_id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("series", sa.String(length=400), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("items", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("originator_id", "rule_id", "series", "seq", name="pk_alarm_window_chunks"),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_states.c.rule_id, _states.c.originator_id, _states.c.state, _states.c.version)
    )
    for rule_id, originator_id, text, version in rows.fetchall():
        state = json.loads(text)
        if state.get("version") != 1:
            continue
        series = {WINDOW + k: v for k, v in state.pop("windows", {}).items()}
        series.update((COUNT + k, v) for k, v in state.pop("count_ts_ms", {}).items())
        state["version"] = 2
        state["series"] = {name: len(items) for name, items in series.items()}
        chunks = [
            {"originator_id": originator_id, "rule_id": rule_id, "series": name, "seq": version,
             "items": _dumps(items)}
            for name, items in series.items()
            if items
        ]  # fmt: skip
        if chunks:
            bind.execute(sa.insert(_chunks), chunks)
        bind.execute(
            sa.update(_states)
            .where(_states.c.rule_id == rule_id, _states.c.originator_id == originator_id)
            .values(state=_dumps(state))
        )


def downgrade() -> None:
    """Put every window back into its state document, then drop alarm_window_chunks."""
    bind = op.get_bind()
    chunks: dict[tuple[str, str], dict[str, list[list[Any]]]] = {}
    for originator_id, rule_id, series, items in bind.execute(
        sa.select(_chunks.c.originator_id, _chunks.c.rule_id, _chunks.c.series, _chunks.c["items"]).order_by(
            _chunks.c.originator_id, _chunks.c.rule_id, _chunks.c.series, _chunks.c.seq
        )
    ).fetchall():
        chunks.setdefault((rule_id, originator_id), {}).setdefault(series, []).append(json.loads(items))
    rows = bind.execute(sa.select(_states.c.rule_id, _states.c.originator_id, _states.c.state))
    for rule_id, originator_id, text in rows.fetchall():
        state = json.loads(text)
        if state.get("version") != 2:
            continue
        stored = chunks.get((rule_id, originator_id), {})
        windows: dict[str, list[Any]] = {}
        counts: dict[str, list[Any]] = {}
        for name, n in state.pop("series").items():
            items = [item for chunk in stored.get(name, []) for item in chunk]
            kept = items[len(items) - n :] if n else []
            (windows if name.startswith(WINDOW) else counts)[name[len(WINDOW) :]] = kept
        state.update(version=1, windows=windows, count_ts_ms=counts)
        bind.execute(
            sa.update(_states)
            .where(_states.c.rule_id == rule_id, _states.c.originator_id == originator_id)
            .values(state=_dumps(state))
        )
    op.drop_table("alarm_window_chunks")
