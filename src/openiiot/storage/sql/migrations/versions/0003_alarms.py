"""Alarms: rules on device profiles, evaluator state per (rule, originator), alarms with history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a frozen copy of the types at this revision: migrations never import the live models
ID = sa.String(length=64)
JSON_TYPE = sa.Text()  # TEXT on every engine: see tables.JsonText


def upgrade() -> None:
    """Create the alarm tables."""
    op.create_table(
        "alarm_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("rule", JSON_TYPE, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_alarm_rules_tenant_id_tenants"),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["device_profiles.id"], name="fk_alarm_rules_profile_id_device_profiles"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alarm_rules"),
    )
    op.create_index("ix_alarm_rules_profile_id", "alarm_rules", ["profile_id"])
    op.create_table(
        "alarm_rule_states",
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("originator_id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("state", JSON_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "originator_id", name="pk_alarm_rule_states"),
    )
    op.create_table(
        "alarms",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("originator_id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("raised_ms", sa.BigInteger(), nullable=False),
        sa.Column("body", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_alarms_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
    )
    op.create_index("ix_alarms_tenant_id_raised_ms", "alarms", ["tenant_id", "raised_ms"])
    op.create_index(
        "uq_alarms_open_originator_id_rule_id",
        "alarms",
        ["originator_id", "rule_id"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    """Drop the alarm tables."""
    op.drop_table("alarms")
    op.drop_table("alarm_rule_states")
    op.drop_table("alarm_rules")
