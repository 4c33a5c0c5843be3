"""In-memory directory of devices for the ingest hot path: device id -> tenant, profile, disabled.

Entries expire after a TTL and are dropped on change events (`invalidate`, `invalidate_profile`), so a second
ingest process sharing the subscription sees changes within the TTL even without events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from openiiot.domain.errors import NotFound
from openiiot.domain.model import DeviceProfile
from openiiot.services.payloads import KeyPolicy
from openiiot.services.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """What ingest needs to know about one device."""

    device_id: str
    tenant_id: str
    profile: DeviceProfile
    disabled: bool
    policy: KeyPolicy
    asset_id: str | None = None  # where the device is placed (asset alarm rules apply over it)
    is_gateway: bool = False  # may speak for child devices (services/gateway.py)


@dataclass(slots=True)
class _Cached:
    entry: DeviceEntry | None  # None: the device is unknown (negative cache)
    expires_s: float


class DeviceDirectory:
    """Thread-safe cache resolving device ids through the metadata unit of work."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        ttl_s: float = 60.0,
        negative_ttl_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._devices: dict[str, _Cached] = {}
        self._profiles: dict[str, tuple[DeviceProfile, KeyPolicy, float]] = {}
        # Bumped by every invalidation: a load that started before it must not store what it read.
        self._generation = 0

    def resolve(self, device_id: str) -> DeviceEntry | None:
        """The device's entry, or None when it does not exist. Storage errors propagate."""
        return self.resolve_many((device_id,))[device_id]

    def resolve_many(self, device_ids: Iterable[str]) -> dict[str, DeviceEntry | None]:
        """Entries of many devices; cache misses are loaded in one unit of work."""
        now_s = self._monotonic()
        found: dict[str, DeviceEntry | None] = {}
        missing: list[str] = []
        with self._lock:
            for device_id in device_ids:
                cached = self._devices.get(device_id)
                if cached is not None and cached.expires_s > now_s:
                    found[device_id] = cached.entry
                elif device_id not in found:
                    missing.append(device_id)
            generation = self._generation
        if missing:
            found.update(self._load(list(dict.fromkeys(missing)), generation, now_s))
        return found

    def _load(self, device_ids: list[str], generation: int, now_s: float) -> dict[str, DeviceEntry | None]:
        loaded: dict[str, DeviceEntry | None] = {}
        with self._uow() as uow:
            for device_id in device_ids:
                try:
                    device = uow.devices.get(None, device_id)
                except NotFound:
                    loaded[device_id] = None
                    continue
                profile, policy = self._profile(uow, device.profile_id, device.tenant_id, generation, now_s)
                loaded[device_id] = DeviceEntry(
                    device.id,
                    device.tenant_id,
                    profile,
                    device.disabled,
                    policy,
                    device.asset_id,
                    device.is_gateway,
                )
        with self._lock:
            if generation == self._generation:
                for device_id, entry in loaded.items():
                    ttl_s = self._ttl_s if entry is not None else self._negative_ttl_s
                    self._devices[device_id] = _Cached(entry, now_s + ttl_s)
        return loaded

    def _profile(
        self, uow: UnitOfWork, profile_id: str, tenant_id: str, generation: int, now_s: float
    ) -> tuple[DeviceProfile, KeyPolicy]:
        with self._lock:
            cached = self._profiles.get(profile_id)
        if cached is not None and cached[2] > now_s:
            return cached[0], cached[1]
        try:
            profile = uow.profiles.get(None, profile_id)
        except NotFound:
            # A device always has a profile; if it vanished, accept data permissively rather than lose it.
            log.warning("device profile missing", extra={"profile_id": profile_id, "tenant_id": tenant_id})
            profile = DeviceProfile(id=profile_id, tenant_id=tenant_id, name="missing profile")
        policy = KeyPolicy.from_profile(profile)
        with self._lock:
            if generation == self._generation:
                self._profiles[profile_id] = (profile, policy, now_s + self._ttl_s)
        return profile, policy

    def invalidate(self, device_id: str) -> None:
        """Forget one device (it was created, changed, disabled or deleted) and its cached profile: a
        profile change reaches its devices through here, and must not wait for the profile's TTL."""
        with self._lock:
            self._generation += 1
            cached = self._devices.pop(device_id, None)
            if cached is not None and cached.entry is not None:
                self._profiles.pop(cached.entry.profile.id, None)

    def invalidate_profile(self, profile_id: str) -> None:
        """Forget a profile and every device using it (the profile's keys or ranges changed)."""
        with self._lock:
            self._generation += 1
            self._profiles.pop(profile_id, None)
            stale = [
                device_id
                for device_id, cached in self._devices.items()
                if cached.entry is not None and cached.entry.profile.id == profile_id
            ]
            for device_id in stale:
                del self._devices[device_id]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._generation += 1
            self._devices.clear()
            self._profiles.clear()
