"""Notification delivery: match alarm events to rules, deliver on worker threads, retry, dead-letter.

`notify` only appends the event to a bounded in-memory queue, so the alarm and ingest path never waits on
the database or the network. Worker threads match the event against the tenant's rules, store one pending
delivery per matching rule (so retries survive a restart: `start` resumes stored pending deliveries), and
deliver with exponential backoff and jitter. Every attempt is recorded; after `max_attempts` failures, or
at once for a failure that cannot succeed on retry (HTTP 4xx, refused address), the delivery becomes a dead
letter. Resuming at start assumes one delivering process per database: run notifications in one role.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from openiiot.domain.credentials import new_id
from openiiot.domain.errors import DeliveryFailed
from openiiot.domain.notification_deliveries import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    target_summary,
)
from openiiot.domain.notifications import AlarmEvent, rules_matching
from openiiot.services.ports import Clock, NotificationChannel, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
RESUME_BATCH = 1000


class NotificationService:
    """Delivers notifications of alarm events; call `start()` once, `notify()` often, `stop()` at exit."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        channels: Mapping[str, NotificationChannel],
        clock: Clock,
        *,
        max_attempts: int = 5,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        queue_size: int = 10_000,
        workers: int = 2,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._uow = uow
        self._channels = dict(channels)
        self._clock = clock
        self.max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._queue_size = queue_size
        self._worker_count = workers
        self._rng = rng or random.Random()
        self._cv = threading.Condition()
        self._events: deque[AlarmEvent] = deque()
        self._due: list[tuple[int, int, Delivery]] = []  # heap of (next_attempt_ms, seq, delivery)
        self._seq = itertools.count()
        self._busy = 0
        self._running = False
        self._threads: list[threading.Thread] = []
        self.dropped_events = 0  # events refused because the queue was full

    def start(self) -> None:
        """Resume stored pending deliveries and start the worker threads."""
        with self._uow() as uow:
            pending = uow.notifications.list_deliveries(
                None, status=DeliveryStatus.PENDING, limit=RESUME_BATCH
            )
        with self._cv:
            for delivery in pending:
                self._schedule(delivery)
            self._running = True
        for index in range(self._worker_count):
            thread = threading.Thread(target=self._work, name=f"notify-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if pending:
            log.info("resumed pending notifications", extra={"deliveries": len(pending)})

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the workers; events not yet matched are stored as pending deliveries for the next start."""
        with self._cv:
            self._running = False
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
        with self._cv:
            left = list(self._events)
            self._events.clear()
        for event in left:
            self._accept(event)

    def notify(self, event: AlarmEvent) -> bool:
        """Queue an event for notification without blocking; False (and counted) when the queue is full."""
        with self._cv:
            if len(self._events) >= self._queue_size:
                self.dropped_events += 1
                log.error(
                    "notification queue full; event dropped",
                    extra={"alarm_id": event.alarm_id, "tenant_id": event.tenant_id},
                )
                return False
            self._events.append(event)
            self._cv.notify()
        return True

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        with self._cv:
            return self._running

    def idle(self) -> bool:
        """True when no event waits and no delivery is in progress (retries may still be scheduled)."""
        with self._cv:
            return not self._events and self._busy == 0

    def scheduled(self) -> int:
        """How many deliveries wait for their next attempt."""
        with self._cv:
            return len(self._due)

    def backoff_s(self, attempts_made: int) -> float:
        """Delay before the next attempt: exponential in attempts made, with 'equal jitter' (50-100 %)."""
        ceiling = min(self._backoff_max_s, self._backoff_base_s * 2.0 ** (attempts_made - 1))
        return ceiling * (0.5 + 0.5 * self._rng.random())

    # -- worker side -------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cv:
                task = self._next_task()
                if task is None:
                    return
                self._busy += 1
            try:
                if isinstance(task, AlarmEvent):
                    self._accept(task)
                else:
                    self._attempt(task)
            except Exception:
                # a broken database or channel must not kill the worker; the delivery stays pending
                log.exception("notification worker failed")
            finally:
                with self._cv:
                    self._busy -= 1

    def _next_task(self) -> AlarmEvent | Delivery | None:
        """Under the lock: the next event or due delivery, waiting as needed; None when stopping."""
        while self._running:
            if self._events:
                return self._events.popleft()
            now_ms = self._clock.now_ms()
            if self._due and self._due[0][0] <= now_ms:
                return heapq.heappop(self._due)[2]
            wait_s = 1.0 if not self._due else min(1.0, (self._due[0][0] - now_ms) / 1000)
            self._cv.wait(wait_s)
        return None

    def _schedule(self, delivery: Delivery) -> None:
        heapq.heappush(self._due, (delivery.next_attempt_ms, next(self._seq), delivery))
        self._cv.notify()

    def _accept(self, event: AlarmEvent) -> None:
        """Match the event and store one pending delivery per matching rule."""
        now_ms = self._clock.now_ms()
        with self._uow() as uow:
            timezone = uow.tenants.get(event.tenant_id).timezone
            rules = uow.notifications.list_rules(event.tenant_id, enabled_only=True, limit=10_000)
            deliveries = [
                Delivery(
                    id=new_id(),
                    tenant_id=event.tenant_id,
                    rule_id=rule.id,
                    rule_name=rule.name,
                    channel=rule.channel,
                    target=rule.target,
                    event=event,
                    created_ms=now_ms,
                    next_attempt_ms=now_ms,
                )
                for rule in rules_matching(event, rules, timezone)
            ]
            for delivery in deliveries:
                uow.notifications.save_delivery(delivery)
            uow.commit()
        with self._cv:
            if self._running:
                for delivery in deliveries:
                    self._schedule(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        """One try: send, record the attempt, then forget, reschedule or dead-letter the delivery."""
        number = delivery.attempts + 1
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        retryable = False
        channel = self._channels.get(delivery.channel.value)
        try:
            if channel is None:
                raise DeliveryFailed(f"no {delivery.channel.value} channel is configured", retryable=False)
            status_code = channel.send(delivery.message(), delivery.target)
        except DeliveryFailed as exc:
            error, retryable, status_code = str(exc), exc.retryable, exc.status_code
        except Exception as exc:
            # an adapter bug or an unexpected library error: worth another try, and loud in the log
            log.exception("notification channel raised", extra={"delivery_id": delivery.id})
            error, retryable = f"{type(exc).__name__}: {exc}", True
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = self._outcome(error, retryable, number)
        self._record(delivery, number, outcome, duration_ms, status_code, error)

    def _outcome(self, error: str | None, retryable: bool, number: int) -> AttemptOutcome:
        if error is None:
            return AttemptOutcome.DELIVERED
        if retryable and number < self.max_attempts:
            return AttemptOutcome.RETRY
        return AttemptOutcome.DEAD_LETTER

    def _record(
        self,
        delivery: Delivery,
        number: int,
        outcome: AttemptOutcome,
        duration_ms: float,
        status_code: int | None,
        error: str | None,
    ) -> None:
        now_ms = self._clock.now_ms()
        attempt = DeliveryAttempt(
            id=new_id(),
            tenant_id=delivery.tenant_id,
            delivery_id=delivery.id,
            rule_id=delivery.rule_id,
            alarm_id=delivery.event.alarm_id,
            channel=delivery.channel,
            target=target_summary(delivery.channel, delivery.target),
            attempt=number,
            outcome=outcome,
            ts_ms=now_ms,
            duration_ms=round(duration_ms, 3),
            status_code=status_code,
            error=None if error is None else error[:MAX_ERROR_CHARS],
        )
        updated = replace(delivery, attempts=number, last_error=attempt.error)
        if outcome is AttemptOutcome.RETRY:
            updated = replace(updated, next_attempt_ms=now_ms + round(self.backoff_s(number) * 1000))
        elif outcome is AttemptOutcome.DEAD_LETTER:
            updated = replace(updated, status=DeliveryStatus.DEAD_LETTER)
            log.warning(
                "notification dead-lettered",
                extra={"delivery_id": delivery.id, "attempts": number, "error": attempt.error},
            )
        with self._uow() as uow:
            uow.notifications.record_attempt(attempt)
            if outcome is AttemptOutcome.DELIVERED:
                uow.notifications.delete_delivery(delivery.id)
            else:
                uow.notifications.save_delivery(updated)
            uow.commit()
        if outcome is AttemptOutcome.RETRY:
            with self._cv:
                if self._running:
                    self._schedule(updated)
