"""The record of notification deliveries: pending and dead-lettered deliveries, and every attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from openiiot.domain.notifications import AlarmEvent, ChannelKind, NotificationMessage


class DeliveryStatus(StrEnum):
    """Where a delivery stands; a delivered one is removed, its attempts remain."""

    PENDING = "pending"
    DEAD_LETTER = "dead-letter"


class AttemptOutcome(StrEnum):
    """What one attempt led to."""

    DELIVERED = "delivered"
    RETRY = "retry"  # failed, another attempt is scheduled
    DEAD_LETTER = "dead-letter"  # failed for good: not retryable, or the last allowed attempt


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one target, stored until delivered so that retries survive a restart."""

    id: str
    tenant_id: str
    rule_id: str
    rule_name: str
    channel: ChannelKind
    target: Mapping[str, Any]  # a snapshot of the rule's target when the event arrived
    event: AlarmEvent
    created_ms: int
    next_attempt_ms: int
    attempts: int = 0  # attempts made so far
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str | None = None

    def message(self) -> NotificationMessage:
        """The message this delivery carries."""
        return NotificationMessage(
            delivery_id=self.id, rule_id=self.rule_id, rule_name=self.rule_name, event=self.event
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One try to deliver, as recorded for operators: who, where, how it went and how long it took."""

    id: str
    tenant_id: str
    delivery_id: str
    rule_id: str
    alarm_id: str
    channel: ChannelKind
    target: str  # a readable summary without secrets: the URL, the addresses or the topic
    attempt: int  # 1 for the first try
    outcome: AttemptOutcome
    ts_ms: int
    duration_ms: float
    status_code: int | None = None
    error: str | None = None


def target_summary(channel: ChannelKind, target: Mapping[str, Any]) -> str:
    """What an attempt records as its target: never the webhook secret."""
    if channel is ChannelKind.WEBHOOK:
        return str(target.get("url", ""))
    if channel is ChannelKind.EMAIL:
        return ", ".join(target.get("to", ()))
    return str(target.get("topic_suffix", ""))
