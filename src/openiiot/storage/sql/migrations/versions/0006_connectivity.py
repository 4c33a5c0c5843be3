"""Device connectivity: current state per device and the log of transitions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def upgrade() -> None:
    """Create device_connectivity and connectivity_events."""
    op.create_table(
        "device_connectivity",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("inactivity_timeout_s", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_activity_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_connected_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_disconnected_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_connectivity"),
    )
    op.create_index("ix_device_connectivity_tenant_id", "device_connectivity", ["tenant_id"])
    op.create_table(
        "connectivity_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connectivity_events"),
    )
    op.create_index("ix_connectivity_events_device_id_ts_ms", "connectivity_events", ["device_id", "ts_ms"])


def downgrade() -> None:
    """Drop the connectivity tables."""
    op.drop_table("connectivity_events")
    op.drop_table("device_connectivity")
