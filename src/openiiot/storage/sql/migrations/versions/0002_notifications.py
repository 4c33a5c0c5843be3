"""Notifications: rules, pending and dead-lettered deliveries, and the attempt log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a frozen copy of the types at this revision: migrations never import the live models
ID = sa.String(length=64)
NAME = sa.String(length=200)
JSON_TYPE = sa.Text()  # TEXT on every engine: see tables.JsonText


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants")


def upgrade() -> None:
    """Create the notification tables."""
    op.create_table(
        "notification_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", JSON_TYPE, nullable=False),
        sa.Column("site_ids", JSON_TYPE, nullable=False),
        sa.Column("severities", JSON_TYPE, nullable=False),
        sa.Column("alarm_types", JSON_TYPE, nullable=False),
        sa.Column("transitions", JSON_TYPE, nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("quiet_critical_passes", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _tenant_fk("notification_rules"),
        sa.PrimaryKeyConstraint("id", name="pk_notification_rules"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_notification_rules_tenant_id_name"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("rule_name", NAME, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", JSON_TYPE, nullable=False),
        sa.Column("event", JSON_TYPE, nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _tenant_fk("notification_deliveries"),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
    )
    op.create_index(
        "ix_notification_deliveries_status_next_attempt_ms",
        "notification_deliveries",
        ["status", "next_attempt_ms"],
    )
    op.create_index(
        "ix_notification_deliveries_tenant_id_created_ms",
        "notification_deliveries",
        ["tenant_id", "created_ms"],
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("delivery_id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=False),
        sa.Column("alarm_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _tenant_fk("notification_attempts"),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
    )
    op.create_index(
        "ix_notification_attempts_tenant_id_ts_ms", "notification_attempts", ["tenant_id", "ts_ms"]
    )
    for column in ("delivery_id", "rule_id", "alarm_id"):
        op.create_index(f"ix_notification_attempts_{column}", "notification_attempts", [column])


def downgrade() -> None:
    """Drop the notification tables."""
    for table in ("notification_attempts", "notification_deliveries", "notification_rules"):
        op.drop_table(table)
