"""Devices get an explicit "is gateway" flag: only a gateway may speak for child devices (decision 0013).

Devices that already have children are gateways in use, so they get the flag; every other device starts
without it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add devices.is_gateway (false), then set it on every device that is the gateway of another."""
    # a plain ADD COLUMN, not a batch copy of the table: on SQLite a batch drops and recreates `devices`,
    # which the foreign keys of the tables referring to it refuse once there are devices
    op.add_column("devices", sa.Column("is_gateway", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE devices SET is_gateway = TRUE WHERE id IN "
        "(SELECT gateway_id FROM devices WHERE gateway_id IS NOT NULL)"
    )


def downgrade() -> None:
    """Drop the flag (a plain DROP COLUMN, for the same reason)."""
    op.drop_column("devices", "is_gateway")
