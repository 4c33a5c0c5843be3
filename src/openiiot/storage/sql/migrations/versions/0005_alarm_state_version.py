"""Alarm rule state: a version column for optimistic concurrency between ingest processes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add alarm_rule_states.version (existing rows start at 1)."""
    with op.batch_alter_table("alarm_rule_states") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop the version column."""
    with op.batch_alter_table("alarm_rule_states") as batch:
        batch.drop_column("version")
