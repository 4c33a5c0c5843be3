"""Work orders.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def upgrade() -> None:
    """Create work_orders."""
    op.create_table(
        "work_orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("asset_id", ID, nullable=True),
        sa.Column("device_id", ID, nullable=True),
        sa.Column("alarm_id", ID, nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_work_orders_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_work_orders"),
    )
    op.create_index("ix_work_orders_tenant_id_created_ms", "work_orders", ["tenant_id", "created_ms"])
    op.create_index("ix_work_orders_state", "work_orders", ["state"])
    op.create_index("ix_work_orders_alarm_id", "work_orders", ["alarm_id"])


def downgrade() -> None:
    """Drop work_orders."""
    op.drop_table("work_orders")
