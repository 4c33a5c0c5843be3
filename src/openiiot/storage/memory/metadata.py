"""In-memory metadata unit of work for service tests: the SQL rules, changes invisible until commit."""

from __future__ import annotations

import threading
from types import TracebackType

from openiiot.services.ports import (
    AlarmRepository,
    ApiKeyRepository,
    AssetRepository,
    AttributeRepository,
    AuditRepository,
    CommandRepository,
    ConnectivityRepository,
    DeviceCredential,
    DeviceRepository,
    GrantRepository,
    NotificationRepository,
    ProfileRepository,
    SiteRepository,
    TenantRepository,
    UserRepository,
    WorkOrderRepository,
)
from openiiot.storage.memory.alarm_repositories import MemoryAlarmRepository
from openiiot.storage.memory.audit_repository import MemoryAuditRepository
from openiiot.storage.memory.command_repository import MemoryCommandRepository
from openiiot.storage.memory.connectivity_repository import MemoryConnectivityRepository
from openiiot.storage.memory.grant_repository import MemoryGrantRepository
from openiiot.storage.memory.metadata_repositories import (
    MemoryAssetRepository,
    MemoryAttributeRepository,
    MemoryDeviceRepository,
    MemoryProfileRepository,
    MemorySiteRepository,
    MemoryTenantRepository,
    MetadataTables,
)
from openiiot.storage.memory.notification_repositories import MemoryNotificationRepository
from openiiot.storage.memory.user_repositories import MemoryApiKeyRepository, MemoryUserRepository
from openiiot.storage.memory.workorder_repository import MemoryWorkOrderRepository


class MemoryUnitOfWork:
    """Works on a private copy of the committed tables; commit merges what changed back."""

    tenants: TenantRepository
    sites: SiteRepository
    assets: AssetRepository
    profiles: ProfileRepository
    devices: DeviceRepository
    attributes: AttributeRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    alarms: AlarmRepository
    notifications: NotificationRepository
    audit: AuditRepository
    connectivity: ConnectivityRepository
    commands: CommandRepository
    workorders: WorkOrderRepository
    grants: GrantRepository

    def __init__(self, factory: MemoryUnitOfWorkFactory) -> None:
        self._factory = factory
        self._base = MetadataTables()  # the committed state this unit of work started from
        self._work = MetadataTables()  # the repositories' private copy
        self._open = False
        self.tenants = MemoryTenantRepository(self._work)
        self.sites = MemorySiteRepository(self._work)
        self.assets = MemoryAssetRepository(self._work)
        self.profiles = MemoryProfileRepository(self._work)
        self.devices = MemoryDeviceRepository(self._work)
        self.attributes = MemoryAttributeRepository(self._work)
        self.users = MemoryUserRepository(self._work)
        self.api_keys = MemoryApiKeyRepository(self._work)
        self.alarms = MemoryAlarmRepository(self._work)
        self.notifications = MemoryNotificationRepository(self._work)
        self.audit = MemoryAuditRepository(self._work)
        self.connectivity = MemoryConnectivityRepository(self._work)
        self.commands = MemoryCommandRepository(self._work)
        self.workorders = MemoryWorkOrderRepository(self._work)
        self.grants = MemoryGrantRepository(self._work)

    def __enter__(self) -> MemoryUnitOfWork:
        if self._open:
            raise RuntimeError("this unit of work is already open; make a new one per use case")
        self._open = True
        self._restart()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        self._reset(self._work, MetadataTables())

    def commit(self) -> None:
        """Apply this unit of work's changes to the committed state."""
        self._check_open()
        with self._factory.lock:
            committed = self._factory.committed.tables()
            for name, work in self._work.tables().items():
                base = self._base.tables()[name]
                target = committed[name]
                # only what this unit of work changed: a concurrent commit's other changes survive
                for key in base.keys() - work.keys():
                    target.pop(key, None)
                for key, value in work.items():
                    if base.get(key) is not value:
                        target[key] = value
            self._factory.commits += 1
        self._restart()

    def rollback(self) -> None:
        """Discard every change since the last commit."""
        self._check_open()
        self._restart()

    def _restart(self) -> None:
        with self._factory.lock:
            self._base = self._factory.committed.copy()
        self._reset(self._work, self._base)

    @staticmethod
    def _reset(target: MetadataTables, source: MetadataTables) -> None:
        # in place: the repositories hold references to these very dicts
        for name, table in target.tables().items():
            table.clear()
            table.update(source.tables()[name])

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("use the unit of work inside `with uow:`")


class MemoryCredentialLookup:
    """Device credentials read from the committed state of a memory metadata store."""

    def __init__(self, factory: MemoryUnitOfWorkFactory) -> None:
        self._factory = factory

    def lookup(self, device_id: str) -> DeviceCredential | None:
        """The committed device's credential, or None."""
        with self._factory.lock:
            device = self._factory.committed.devices.get(device_id)
        if device is None:
            return None
        return DeviceCredential(
            device_id=device.id,
            tenant_id=device.tenant_id,
            token_hash=device.token_hash,
            disabled=device.disabled,
        )

    def close(self) -> None:
        """Nothing to release."""


class MemoryUnitOfWorkFactory:
    """Makes memory units of work that share one committed state; `commits` counts commits for tests."""

    def __init__(self) -> None:
        self.committed = MetadataTables()
        self.lock = threading.Lock()
        self.commits = 0

    def __call__(self) -> MemoryUnitOfWork:
        """A new, not yet opened, unit of work."""
        return MemoryUnitOfWork(self)

    def credential_lookup(self) -> MemoryCredentialLookup:
        """A credential lookup over the committed devices."""
        return MemoryCredentialLookup(self)
