"""The audit log: who did what, when, from where, to which object — one immutable entry per action.

Every state-changing action of a user or an integration is recorded in the same transaction as the
change itself, so an entry exists exactly when the change does. Refused attempts that matter (a denied
confirmation, access through a revoked grant) are recorded with `outcome="denied"`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openiiot.domain.errors import ValidationFailed

MAX_DETAILS_CHARS = 4_000  # an entry records what changed, not whole documents


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action.

    `tenant_id` is the tenant that owns the object (so its admins see the entry); `actor_tenant_id` is
    the caller's own tenant, which differs when a partner acts through a sharing grant.
    """

    id: str
    ts_ms: int
    tenant_id: str | None
    actor_id: str
    actor_name: str
    actor_role: str
    actor_tenant_id: str | None
    source_ip: str | None
    action: str
    object_type: str
    object_id: str
    outcome: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.action or "." not in self.action:
            raise ValidationFailed("an audit action is named `object.verb`, e.g. `device.rotate_token`")
        if self.outcome not in ("ok", "denied"):
            raise ValidationFailed("an audit outcome is `ok` or `denied`", field="outcome")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of an audit search; None means any. Times are epoch milliseconds, `to_ms` exclusive."""

    from_ms: int | None = None
    to_ms: int | None = None
    actor_id: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." (`alarm.` = every alarm action)
    object_type: str | None = None
    object_id: str | None = None

    def __post_init__(self) -> None:
        if self.from_ms is not None and self.to_ms is not None and self.to_ms <= self.from_ms:
            raise ValidationFailed("`to` must be later than `from`", field="to")

    def matches(self, entry: AuditEntry) -> bool:
        """True when the entry passes every filter (the memory store's reading of the query)."""
        if self.from_ms is not None and entry.ts_ms < self.from_ms:
            return False
        if self.to_ms is not None and entry.ts_ms >= self.to_ms:
            return False
        if self.action is not None:
            if self.action.endswith("."):
                if not entry.action.startswith(self.action):
                    return False
            elif entry.action != self.action:
                return False
        pairs = (
            (self.actor_id, entry.actor_id),
            (self.object_type, entry.object_type),
            (self.object_id, entry.object_id),
        )
        return all(wanted is None or wanted == actual for wanted, actual in pairs)
