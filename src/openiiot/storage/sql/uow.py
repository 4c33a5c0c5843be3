"""The SQL unit of work: one Session, one transaction, committed only when asked."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from openiiot.domain.errors import Conflict
from openiiot.services.ports import (
    AlarmRepository,
    ApiKeyRepository,
    AssetRepository,
    AttributeRepository,
    AuditRepository,
    CommandRepository,
    ConnectivityRepository,
    DeviceRepository,
    GrantRepository,
    NotificationRepository,
    ProfileRepository,
    SiteRepository,
    TenantRepository,
    UserRepository,
    WorkOrderRepository,
)
from openiiot.storage.sql.alarm_repositories import SqlAlarmRepository
from openiiot.storage.sql.audit_repository import SqlAuditRepository
from openiiot.storage.sql.command_repository import SqlCommandRepository
from openiiot.storage.sql.connectivity_repository import SqlConnectivityRepository
from openiiot.storage.sql.device_repositories import (
    SqlAttributeRepository,
    SqlDeviceRepository,
    SqlProfileRepository,
)
from openiiot.storage.sql.grant_repository import SqlGrantRepository
from openiiot.storage.sql.notification_repositories import SqlNotificationRepository
from openiiot.storage.sql.repositories import SqlAssetRepository, SqlSiteRepository, SqlTenantRepository
from openiiot.storage.sql.repository_base import conflict_from
from openiiot.storage.sql.user_repositories import SqlApiKeyRepository, SqlUserRepository
from openiiot.storage.sql.workorder_repository import SqlWorkOrderRepository


class SqlUnitOfWork:
    """One metadata transaction: `with uow: ...; uow.commit()`. Leaving without commit rolls back."""

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

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None

    def __enter__(self) -> SqlUnitOfWork:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open; make a new one per use case")
        session = self._session_factory()
        self._session = session
        self.tenants = SqlTenantRepository(session)
        self.sites = SqlSiteRepository(session)
        self.assets = SqlAssetRepository(session)
        self.profiles = SqlProfileRepository(session)
        self.devices = SqlDeviceRepository(session)
        self.attributes = SqlAttributeRepository(session)
        self.users = SqlUserRepository(session)
        self.api_keys = SqlApiKeyRepository(session)
        self.alarms = SqlAlarmRepository(session)
        self.notifications = SqlNotificationRepository(session)
        self.audit = SqlAuditRepository(session)
        self.connectivity = SqlConnectivityRepository(session)
        self.commands = SqlCommandRepository(session)
        self.workorders = SqlWorkOrderRepository(session)
        self.grants = SqlGrantRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.rollback()  # a no-op after commit; discards everything otherwise
            finally:
                session.close()

    def commit(self) -> None:
        """Make every change of this unit of work durable and visible to others."""
        try:
            self._open_session().commit()
        except IntegrityError as exc:
            self._open_session().rollback()
            raise conflict_from(exc) from exc
        except StaleDataError as exc:  # a versioned row changed since it was read (decision 0007)
            self._open_session().rollback()
            raise Conflict(f"changed by another process: {exc}") from exc

    def rollback(self) -> None:
        """Discard every change since the last commit."""
        self._open_session().rollback()

    def _open_session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside `with uow:`")
        return self._session


class SqlUnitOfWorkFactory:
    """Makes a fresh SQL unit of work per use case; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # expire_on_commit=False: repositories hand out plain domain copies, so nothing needs reloading
        self._session_factory = sessionmaker(engine, expire_on_commit=False)

    def __call__(self) -> SqlUnitOfWork:
        """A new, not yet opened, unit of work."""
        return SqlUnitOfWork(self._session_factory)
