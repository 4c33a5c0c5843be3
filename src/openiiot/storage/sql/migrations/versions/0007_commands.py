"""Commands (RPC): methods declared on device profiles, and the commands table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def upgrade() -> None:
    """Add device_profiles.methods and create commands."""
    with op.batch_alter_table("device_profiles") as batch:
        batch.add_column(sa.Column("methods", sa.Text(), nullable=False, server_default="[]"))
    op.create_table(
        "commands",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_commands_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_commands_tenant_id_idempotency_key"),
    )
    op.create_index("ix_commands_device_id_state", "commands", ["device_id", "state"])
    op.create_index("ix_commands_state_expires_ms", "commands", ["state", "expires_ms"])


def downgrade() -> None:
    """Drop commands and device_profiles.methods."""
    op.drop_table("commands")
    with op.batch_alter_table("device_profiles") as batch:
        batch.drop_column("methods")
