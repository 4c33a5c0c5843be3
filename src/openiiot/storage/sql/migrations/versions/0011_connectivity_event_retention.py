"""Connectivity event retention: an index on connectivity_events.ts_ms, so that deleting by age is cheap.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the events by time alone (the existing index leads with the device)."""
    op.create_index("ix_connectivity_events_ts_ms", "connectivity_events", ["ts_ms"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_connectivity_events_ts_ms", table_name="connectivity_events")
