"""Sharing grants between tenants.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)


def upgrade() -> None:
    """Create grants."""
    op.create_table(
        "grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("grantor_tenant_id", ID, nullable=False),
        sa.Column("grantee_tenant_id", ID, nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grantor_tenant_id"], ["tenants.id"], name="fk_grants_grantor_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["grantee_tenant_id"], ["tenants.id"], name="fk_grants_grantee_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
    )
    op.create_index("ix_grants_grantor_tenant_id", "grants", ["grantor_tenant_id"])
    op.create_index("ix_grants_grantee_tenant_id", "grants", ["grantee_tenant_id"])


def downgrade() -> None:
    """Drop grants."""
    op.drop_table("grants")
