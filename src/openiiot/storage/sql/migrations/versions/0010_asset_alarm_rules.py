"""Alarm rules on assets: a rule belongs to a device profile or to an asset (applied to the devices under it).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)


def upgrade() -> None:
    """alarm_rules.profile_id becomes optional; alarm_rules.asset_id (indexed, references assets)."""
    with op.batch_alter_table("alarm_rules") as batch:
        batch.alter_column("profile_id", existing_type=ID, nullable=True)
        batch.add_column(sa.Column("asset_id", ID, nullable=True))
        batch.create_foreign_key("fk_alarm_rules_asset_id_assets", "assets", ["asset_id"], ["id"])
        batch.create_index("ix_alarm_rules_asset_id", ["asset_id"])


def downgrade() -> None:
    """Drop asset rules and make profile_id required again."""
    asset_rules = "SELECT id FROM alarm_rules WHERE asset_id IS NOT NULL"
    op.execute(f"DELETE FROM alarm_rule_states WHERE rule_id IN ({asset_rules})")
    op.execute("DELETE FROM alarm_rules WHERE asset_id IS NOT NULL")
    with op.batch_alter_table("alarm_rules") as batch:
        batch.drop_index("ix_alarm_rules_asset_id")
        batch.drop_constraint("fk_alarm_rules_asset_id_assets", type_="foreignkey")
        batch.drop_column("asset_id")
        batch.alter_column("profile_id", existing_type=ID, nullable=False)
