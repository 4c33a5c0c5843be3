"""Initial metadata schema: tenants, sites, assets, device profiles, devices, attributes, users, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# a frozen copy of the types at this revision: migrations never import the live models
ID = sa.String(length=64)
NAME = sa.String(length=200)
JSON_TYPE = sa.Text()  # TEXT on every engine: see tables.JsonText


def upgrade() -> None:
    """Create every metadata table."""
    op.create_table(
        "tenants",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("industry_code", sa.String(length=8), nullable=True),
        sa.Column("credit_code", sa.String(length=32), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "device_profiles",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("keys", JSON_TYPE, nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("inactivity_timeout_s", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_device_profiles_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_device_profiles"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_device_profiles_tenant_id_name"),
    )
    op.create_table(
        "sites",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_sites_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
    )
    op.create_index("ix_sites_tenant_id_name", "sites", ["tenant_id", "name"])
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", ID, nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", NAME, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_users_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_keys_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "assets",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("asset_type", sa.String(length=64), nullable=False),
        sa.Column("maintenance_mode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["assets.id"], name="fk_assets_parent_id_assets"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_assets_site_id_sites"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_assets_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
    )
    op.create_index("ix_assets_parent_id", "assets", ["parent_id"])
    op.create_index("ix_assets_site_id", "assets", ["site_id"])
    op.create_index("ix_assets_tenant_id_name", "assets", ["tenant_id", "name"])
    op.create_table(
        "devices",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("asset_id", ID, nullable=True),
        sa.Column("gateway_id", ID, nullable=True),
        sa.Column("label", NAME, nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name="fk_devices_asset_id_assets"),
        sa.ForeignKeyConstraint(["gateway_id"], ["devices.id"], name="fk_devices_gateway_id_devices"),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["device_profiles.id"], name="fk_devices_profile_id_device_profiles"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_devices_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_devices_tenant_id_name"),
    )
    op.create_index("ix_devices_asset_id", "devices", ["asset_id"])
    op.create_index("ix_devices_gateway_id", "devices", ["gateway_id"])
    op.create_index("ix_devices_profile_id", "devices", ["profile_id"])
    op.create_table(
        "device_attributes",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", JSON_TYPE, nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_device_attributes_device_id_devices", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "scope", "key", name="pk_device_attributes"),
    )


def downgrade() -> None:
    """Drop every metadata table, children first."""
    for table in ("device_attributes", "devices", "assets", "api_keys", "users", "sites", "device_profiles"):
        op.drop_table(table)
    op.drop_table("tenants")
