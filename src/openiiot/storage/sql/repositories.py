"""SQL repositories of the organisation: tenants, sites and asset trees."""

from __future__ import annotations

from sqlalchemy import exists, select

from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import Asset, Site, Tenant
from openiiot.storage.sql.repository_base import SqlRepository, from_row, values_of
from openiiot.storage.sql.tables import AssetRow, DeviceRow, ProfileRow, SiteRow, TenantRow, UserRow


class SqlTenantRepository(SqlRepository):
    """Tenants in SQL."""

    def add(self, tenant: Tenant) -> None:
        """Store a new tenant; Conflict when the id is taken."""
        if self._exists(TenantRow, tenant.id):
            raise Conflict(f"tenant {tenant.id} already exists", field="id")
        self._session.add(TenantRow(**values_of(tenant)))
        self._flush()

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or NotFound."""
        return from_row(Tenant, self._scoped_get(TenantRow, "tenant", None, tenant_id))

    def list(self, *, offset: int = 0, limit: int = 100) -> list[Tenant]:
        """Tenants ordered by name."""
        stmt = select(TenantRow).order_by(TenantRow.name, TenantRow.id)
        return [from_row(Tenant, r) for r in self._page(stmt, offset, limit)]

    def update(self, tenant: Tenant) -> None:
        """Replace a tenant's fields."""
        self._replace(self._scoped_get(TenantRow, "tenant", None, tenant.id), tenant)

    def delete(self, tenant_id: str) -> None:
        """Delete an empty tenant; Conflict while it still has sites, profiles, devices or users."""
        row = self._scoped_get(TenantRow, "tenant", None, tenant_id)
        dependants = (
            ("sites", SiteRow),
            ("profiles", ProfileRow),
            ("devices", DeviceRow),
            ("users", UserRow),
        )
        for what, model in dependants:
            if self._session.scalar(select(exists().where(model.tenant_id == tenant_id))):
                raise Conflict(f"tenant {tenant_id} still has {what}; delete them first", field=what)
        self._session.delete(row)
        self._flush()


class SqlSiteRepository(SqlRepository):
    """Sites in SQL."""

    def add(self, site: Site) -> None:
        """Store a new site of an existing tenant."""
        if self._exists(SiteRow, site.id):
            raise Conflict(f"site {site.id} already exists", field="id")
        if not self._exists(TenantRow, site.tenant_id):
            raise NotFound("tenant", site.tenant_id)
        self._session.add(SiteRow(**values_of(site)))
        self._flush()

    def get(self, tenant_id: str | None, site_id: str) -> Site:
        """The site, or NotFound when it does not exist in the scope."""
        return from_row(Site, self._scoped_get(SiteRow, "site", tenant_id, site_id))

    def list(self, tenant_id: str | None, *, offset: int = 0, limit: int = 100) -> list[Site]:
        """Sites in the scope ordered by name."""
        stmt = select(SiteRow).order_by(SiteRow.name, SiteRow.id)
        if tenant_id is not None:
            stmt = stmt.where(SiteRow.tenant_id == tenant_id)
        return [from_row(Site, r) for r in self._page(stmt, offset, limit)]

    def update(self, site: Site) -> None:
        """Replace a site's fields; its tenant cannot change."""
        self._replace(self._scoped_get(SiteRow, "site", site.tenant_id, site.id), site)

    def delete(self, tenant_id: str | None, site_id: str) -> None:
        """Delete a site without assets; Conflict otherwise."""
        row = self._scoped_get(SiteRow, "site", tenant_id, site_id)
        if self._session.scalar(select(exists().where(AssetRow.site_id == site_id))):
            raise Conflict(f"site {site_id} still has assets; delete them first", field="assets")
        self._session.delete(row)
        self._flush()


class SqlAssetRepository(SqlRepository):
    """Assets in SQL."""

    def add(self, asset: Asset) -> None:
        """Store a new asset under a site (and optionally a parent asset) of the same tenant."""
        if self._exists(AssetRow, asset.id):
            raise Conflict(f"asset {asset.id} already exists", field="id")
        self._scoped_get(SiteRow, "site", asset.tenant_id, asset.site_id)
        self._check_parent(asset)
        self._session.add(AssetRow(**values_of(asset)))
        self._flush()

    def get(self, tenant_id: str | None, asset_id: str) -> Asset:
        """The asset, or NotFound when it does not exist in the scope."""
        return from_row(Asset, self._scoped_get(AssetRow, "asset", tenant_id, asset_id))

    def list(
        self,
        tenant_id: str | None,
        *,
        site_id: str | None = None,
        parent_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Asset]:
        """Assets in the scope ordered by name; `site_id` and `parent_id` filter when given."""
        stmt = select(AssetRow).order_by(AssetRow.name, AssetRow.id)
        if tenant_id is not None:
            stmt = stmt.where(AssetRow.tenant_id == tenant_id)
        if site_id is not None:
            stmt = stmt.where(AssetRow.site_id == site_id)
        if parent_id is not None:
            stmt = stmt.where(AssetRow.parent_id == parent_id)
        return [from_row(Asset, r) for r in self._page(stmt, offset, limit)]

    def update(self, asset: Asset) -> None:
        """Replace an asset's fields; it may move within its site but not to another site."""
        row = self._scoped_get(AssetRow, "asset", asset.tenant_id, asset.id)
        if row.site_id != asset.site_id:
            raise ValidationFailed("an asset cannot move to another site", field="site_id")
        self._check_parent(asset)
        self._replace(row, asset)

    def delete(self, tenant_id: str | None, asset_id: str) -> None:
        """Delete a leaf asset without devices; Conflict otherwise."""
        row = self._scoped_get(AssetRow, "asset", tenant_id, asset_id)
        if self._session.scalar(select(exists().where(AssetRow.parent_id == asset_id))):
            raise Conflict(f"asset {asset_id} still has child assets", field="children")
        if self._session.scalar(select(exists().where(DeviceRow.asset_id == asset_id))):
            raise Conflict(f"asset {asset_id} still has devices", field="devices")
        self._session.delete(row)
        self._flush()

    def _check_parent(self, asset: Asset) -> None:
        """The parent must be an asset of the same site, and the tree must stay a tree."""
        parent_id = asset.parent_id
        while parent_id is not None:
            parent = self._scoped_get(AssetRow, "asset", asset.tenant_id, parent_id)
            if parent.site_id != asset.site_id:
                raise ValidationFailed("the parent asset belongs to another site", field="parent_id")
            if parent.parent_id == asset.id:
                raise ValidationFailed("the parent would become a child of this asset", field="parent_id")
            parent_id = parent.parent_id
