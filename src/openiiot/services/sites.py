"""Site and asset-tree handlers: tenant admins manage them, every tenant role reads them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from openiiot.domain.credentials import new_id
from openiiot.domain.errors import Conflict, NotFound, ValidationFailed
from openiiot.domain.model import Asset, Principal, Role, Site
from openiiot.services.authorization import require_reader, require_role, scope_of, target_tenant
from openiiot.services.changes import apply_changes
from openiiot.services.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

SITE_FIELDS = frozenset({"name", "address", "latitude", "longitude"})
ASSET_FIELDS = frozenset({"name", "asset_type", "parent_id", "maintenance_mode"})
MAX_TREE_DEPTH = 64  # guards the cycle check against corrupt data


class SiteService:
    """Create, read, update and delete sites."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def create(self, principal: Principal, values: Mapping[str, Any], tenant_id: str | None = None) -> Site:
        """Create a site in the caller's tenant (or the named one, for platform admins)."""
        require_role(principal, Role.TENANT_ADMIN, "creating sites")
        owner = target_tenant(principal, tenant_id)
        site = Site(id=new_id(), tenant_id=owner, **{k: v for k, v in values.items() if k in SITE_FIELDS})
        with self._uow() as uow:
            uow.tenants.get(owner)
            uow.sites.add(site)
            uow.commit()
        return site

    def get(self, principal: Principal, site_id: str) -> Site:
        """One site of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.sites.get(scope_of(principal), site_id)

    def list(self, principal: Principal, *, offset: int = 0, limit: int = 100) -> list[Site]:
        """Sites of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.sites.list(scope_of(principal), offset=offset, limit=limit)

    def update(self, principal: Principal, site_id: str, changes: Mapping[str, Any]) -> Site:
        """Change a site's fields."""
        require_role(principal, Role.TENANT_ADMIN, "changing sites")
        with self._uow() as uow:
            site = apply_changes(uow.sites.get(scope_of(principal), site_id), changes, SITE_FIELDS)
            uow.sites.update(site)
            uow.commit()
        return site

    def delete(self, principal: Principal, site_id: str) -> None:
        """Delete a site without assets."""
        require_role(principal, Role.TENANT_ADMIN, "deleting sites")
        with self._uow() as uow:
            site = uow.sites.get(scope_of(principal), site_id)
            if uow.assets.list(site.tenant_id, site_id=site_id, limit=1):
                raise Conflict("the site still has assets; delete them first")
            uow.sites.delete(scope_of(principal), site_id)
            uow.commit()


class AssetService:
    """Create, read, update and delete assets; assets form trees under a site."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def create(
        self, principal: Principal, *, site_id: str, values: Mapping[str, Any], tenant_id: str | None = None
    ) -> Asset:
        """Create an asset under a site, optionally below a parent asset of the same site."""
        require_role(principal, Role.TENANT_ADMIN, "creating assets")
        owner = target_tenant(principal, tenant_id)
        fields = {k: v for k, v in values.items() if k in ASSET_FIELDS}
        asset = Asset(id=new_id(), tenant_id=owner, site_id=site_id, **fields)
        with self._uow() as uow:
            try:
                uow.sites.get(owner, site_id)
            except NotFound as exc:
                raise ValidationFailed(f"unknown site {site_id}", field="site_id") from exc
            self._check_parent(uow, asset)
            uow.assets.add(asset)
            uow.commit()
        return asset

    def get(self, principal: Principal, asset_id: str) -> Asset:
        """One asset of the caller's tenant."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.assets.get(scope_of(principal), asset_id)

    def children(self, principal: Principal, asset_id: str) -> list[Asset]:
        """The direct children of an asset."""
        require_reader(principal)
        with self._uow() as uow:
            asset = uow.assets.get(scope_of(principal), asset_id)
            return uow.assets.list(asset.tenant_id, parent_id=asset.id, limit=10_000)

    def list(
        self,
        principal: Principal,
        *,
        site_id: str | None = None,
        parent_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Asset]:
        """Assets of the caller's tenant, optionally of one site or the children of one asset."""
        require_reader(principal)
        with self._uow() as uow:
            return uow.assets.list(
                scope_of(principal), site_id=site_id, parent_id=parent_id, offset=offset, limit=limit
            )

    def update(self, principal: Principal, asset_id: str, changes: Mapping[str, Any]) -> Asset:
        """Rename, move within the site's tree or toggle maintenance mode."""
        require_role(principal, Role.TENANT_ADMIN, "changing assets")
        with self._uow() as uow:
            asset = apply_changes(uow.assets.get(scope_of(principal), asset_id), changes, ASSET_FIELDS)
            self._check_parent(uow, asset)
            uow.assets.update(asset)
            uow.commit()
        return asset

    def set_maintenance(self, principal: Principal, asset_id: str, on: bool) -> Asset:
        """Put an asset into maintenance mode or take it out (operators may do this)."""
        require_role(principal, Role.OPERATOR, "switching maintenance mode")
        with self._uow() as uow:
            asset = apply_changes(
                uow.assets.get(scope_of(principal), asset_id), {"maintenance_mode": on}, ASSET_FIELDS
            )
            uow.assets.update(asset)
            uow.commit()
        log.info("maintenance mode", extra={"asset_id": asset_id, "on": on, "user_id": principal.user_id})
        return asset

    def delete(self, principal: Principal, asset_id: str) -> None:
        """Delete a leaf asset that no device is attached to."""
        require_role(principal, Role.TENANT_ADMIN, "deleting assets")
        with self._uow() as uow:
            asset = uow.assets.get(scope_of(principal), asset_id)
            if uow.assets.list(asset.tenant_id, parent_id=asset_id, limit=1):
                raise Conflict("the asset has child assets; delete or move them first")
            if uow.devices.list(asset.tenant_id, asset_id=asset_id, limit=1):
                raise Conflict("devices are attached to the asset; move them first")
            uow.assets.delete(scope_of(principal), asset_id)
            uow.commit()

    @staticmethod
    def _check_parent(uow: UnitOfWork, asset: Asset) -> None:
        """The parent must be an asset of the same site, and the move must not create a cycle."""
        parent_id = asset.parent_id
        depth = 0
        while parent_id is not None:
            try:
                parent = uow.assets.get(asset.tenant_id, parent_id)
            except NotFound as exc:
                raise ValidationFailed(f"unknown parent asset {parent_id}", field="parent_id") from exc
            if parent.site_id != asset.site_id:
                raise ValidationFailed("the parent asset belongs to another site", field="parent_id")
            if parent.id == asset.id or depth > MAX_TREE_DEPTH:
                raise ValidationFailed("the move would make the asset its own ancestor", field="parent_id")
            parent_id, depth = parent.parent_id, depth + 1
