"""The ingest hot path (architecture section 5, decision 0004): a bounded queue, one worker thread, batch
decode against the device directory, one telemetry append per batch, and acknowledgements only after commit.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from openiiot.domain.errors import Overloaded
from openiiot.domain.model import Attribute, AttributeScope
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.device_directory import DeviceDirectory, DeviceEntry
from openiiot.services.metrics import IngestMetrics
from openiiot.services.payloads import (
    DecodeLimits,
    DecodeResult,
    RejectReason,
    decode_attributes,
    decode_telemetry,
)
from openiiot.services.ports import Clock, TelemetryStore, UnitOfWorkFactory

log = logging.getLogger(__name__)

_NO_REJECTS: Mapping[str, int] = MappingProxyType({})
_POLL_S = 0.1  # how often an idle worker looks at the stop flag
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 5.0


class Channel(StrEnum):
    """What a device message carries."""

    TELEMETRY = "telemetry"
    ATTRIBUTES = "attributes"
    # a gateway speaking for its children: the gateway router (services/gateway.py) splits these into
    # the children's own telemetry and attributes messages before they reach the pipeline
    GATEWAY_CONNECT = "gateway/connect"
    GATEWAY_DISCONNECT = "gateway/disconnect"
    GATEWAY_TELEMETRY = "gateway/telemetry"
    GATEWAY_ATTRIBUTES = "gateway/attributes"
    GATEWAY_RPC_RESPONSE = "gateway/rpc/response"
    GATEWAY_ATTRIBUTES_REQUEST = "gateway/attributes/request"


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What became of one message once its batch was committed."""

    accepted: int
    rejected: Mapping[str, int]  # reason -> count, including the whole-message reason
    error: str | None  # the reason the whole message was refused, if it was
    examples: tuple[tuple[str, str], ...] = ()  # a few (key or part, reason) pairs explaining the rejects


@dataclass(frozen=True, slots=True)
class IngestMessage:
    """One raw device message; `on_done` is called on the worker thread after the commit."""

    device_id: str
    channel: Channel
    payload: bytes
    received_ms: int
    on_done: Callable[[IngestOutcome], None] | None = None


@dataclass(slots=True)
class _Work:
    """A decoded batch, ready to commit."""

    batch: TelemetryBatch = field(default_factory=TelemetryBatch)
    attributes: dict[tuple[str, str], Attribute] = field(default_factory=dict)
    results: list[DecodeResult] = field(default_factory=list)


def _truncate(batch: TelemetryBatch, size: int) -> None:
    """Drop points after the first `size` (undo a decode that failed half-way)."""
    for column in (batch.device_id, batch.key, batch.ts_ms, batch.value, batch.text, batch.quality):
        del column[size:]


class IngestPipeline:
    """Bounded queue plus one worker thread that decodes, commits, acknowledges and notifies listeners."""

    def __init__(
        self,
        *,
        directory: DeviceDirectory,
        uow: UnitOfWorkFactory,
        store: TelemetryStore,
        clock: Clock,
        metrics: IngestMetrics,
        max_payload_bytes: int,
        max_future_ms: int,
        max_past_ms: int,
        queue_size: int,
        batch_max: int,
        batch_wait_ms: int,
        listeners: Sequence[Callable[[TelemetryBatch], None]] = (),
        activity_listeners: Sequence[Callable[[Mapping[str, int]], None]] = (),
    ) -> None:
        self._directory = directory
        self._uow = uow
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._limits = DecodeLimits(max_payload_bytes, max_future_ms, max_past_ms)
        self._queue: queue.Queue[IngestMessage] = queue.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_ms / 1000
        self._listeners = tuple(listeners)
        self._activity_listeners = tuple(activity_listeners)
        self._activity_ms: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # stop retrying and stop waiting to fill batches
        # Held while a message is being put, so that stop() knows when no more messages can arrive.
        self._submit_lock = threading.Lock()
        self._closed = False
        # read when scraped: no gauge update per message on the network thread
        metrics.queue_depth.set_function(self._queue.qsize)

    @property
    def metrics(self) -> IngestMetrics:
        """The metrics this pipeline records into."""
        return self._metrics

    @property
    def max_payload_bytes(self) -> int:
        """The largest payload accepted."""
        return self._limits.max_payload_bytes

    @property
    def queue_depth(self) -> int:
        """Messages waiting to be decoded."""
        return self._queue.qsize()

    def last_activity_ms(self, device_id: str) -> int | None:
        """When a known, enabled device last sent a message that was processed (receive time)."""
        return self._activity_ms.get(device_id)

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is not None:
            raise RuntimeError("the ingest pipeline is already started")
        self._thread = threading.Thread(target=self._run, name="openiiot-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        """Refuse new messages, drain the queue (commit and call on_done), and join the worker."""
        deadline_s = time.monotonic() + timeout_s
        self._stopping.set()
        # A producer blocked on a full queue holds the lock; the worker keeps draining, so it gets in.
        acquired = self._submit_lock.acquire(timeout=max(timeout_s, 0.0))
        self._closed = True
        if acquired:
            self._submit_lock.release()
        if self._thread is not None:
            self._thread.join(max(deadline_s - time.monotonic(), 0.0))
            if self._thread.is_alive():
                log.error("ingest worker did not stop in time", extra={"queue_depth": self.queue_depth})

    def submit(self, message: IngestMessage, *, timeout_s: float | None = None) -> None:
        """Queue a message; block while the queue is full (backpressure); Overloaded after `timeout_s`."""
        started_s = time.monotonic()
        if not self._submit_lock.acquire(timeout=-1 if timeout_s is None else timeout_s):
            raise Overloaded("the ingest queue is full")
        try:
            if self._closed or self._stopping.is_set():
                raise Overloaded("the ingest pipeline is stopping")
            remaining_s = None if timeout_s is None else max(timeout_s - (time.monotonic() - started_s), 0.0)
            self._queue.put(message, timeout=remaining_s)
        except queue.Full as exc:
            raise Overloaded("the ingest queue is full") from exc
        finally:
            self._submit_lock.release()

    def _run(self) -> None:
        while True:
            messages = self._take()
            if messages:
                try:
                    self._handle(messages)
                except Exception:  # a bug must not kill the only worker; the messages stay unacknowledged
                    log.exception("ingest batch failed", extra={"messages": len(messages)})
            elif self._closed and self._queue.empty():
                return

    def _take(self) -> list[IngestMessage]:
        """Up to batch_max messages, waiting at most batch_wait after the first one."""
        try:
            messages = [self._queue.get(timeout=_POLL_S)]
        except queue.Empty:
            return []
        deadline_s = time.monotonic() + self._batch_wait_s
        while len(messages) < self._batch_max:
            try:
                messages.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0 or self._stopping.is_set():
                break
            try:
                messages.append(self._queue.get(timeout=remaining_s))
            except queue.Empty:
                break
        return messages

    def _handle(self, messages: list[IngestMessage]) -> None:
        """Decode and commit, retrying with jittered backoff until it succeeds or stop is requested."""
        started_s = time.perf_counter()
        attempt = 0
        while True:
            work: _Work | None = None
            try:
                work = self._decode(messages)
                self._commit(work)
                break
            except Exception as exc:
                attempt += 1
                self._metrics.store_errors.inc()
                if work is not None:
                    # A device deleted since it was cached makes the attribute upsert fail: look it up again,
                    # so that the retry refuses it as unknown instead of failing forever.
                    for device_id, _key in work.attributes:
                        self._directory.invalidate(device_id)
                if self._stopping.is_set():
                    log.error(
                        "ingest batch abandoned at stop; its messages stay unacknowledged",
                        extra={"messages": len(messages), "error": repr(exc)},
                    )
                    return
                delay_s = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "ingest commit failed; retrying the same batch",
                    exc_info=True,
                    extra={"attempt": attempt, "messages": len(messages), "retry_in_s": round(delay_s, 3)},
                )
                self._stopping.wait(delay_s)
        self._metrics.batch_seconds.observe(time.perf_counter() - started_s)
        self._finish(messages, work)

    def _decode(self, messages: list[IngestMessage]) -> _Work:
        """Decode every message against the directory; storage errors of the directory propagate (retry)."""
        now_ms = self._clock.now_ms()
        entries = self._directory.resolve_many(m.device_id for m in messages)
        work = _Work()
        for message in messages:
            work.results.append(self._decode_one(message, entries.get(message.device_id), now_ms, work))
        return work

    def _decode_one(
        self, message: IngestMessage, entry: DeviceEntry | None, now_ms: int, work: _Work
    ) -> DecodeResult:
        if entry is None:
            return DecodeResult().refuse(RejectReason.UNKNOWN_DEVICE)
        if entry.disabled:
            return DecodeResult().refuse(RejectReason.DEVICE_DISABLED)
        if message.channel not in (Channel.TELEMETRY, Channel.ATTRIBUTES):
            return DecodeResult().refuse(RejectReason.WRONG_SHAPE)  # a gateway message must be split first
        size = len(work.batch)
        try:
            if message.channel is Channel.TELEMETRY:
                return decode_telemetry(
                    message.payload,
                    device_id=message.device_id,
                    received_ms=message.received_ms,
                    now_ms=now_ms,
                    limits=self._limits,
                    policy=entry.policy,
                    out=work.batch,
                )
            result = decode_attributes(message.payload, max_payload_bytes=self._limits.max_payload_bytes)
        except Exception:  # a decoder bug refuses one message, never the batch
            log.exception("payload decoder failed", extra={"device_id": message.device_id})
            _truncate(work.batch, size)
            return DecodeResult().refuse(RejectReason.INTERNAL_ERROR)
        for key, value in result.attributes.items():
            work.attributes[(message.device_id, key)] = Attribute(
                message.device_id, AttributeScope.CLIENT, key, value, message.received_ms
            )
        return result

    def _commit(self, work: _Work) -> None:
        if len(work.batch):
            self._store.append(work.batch)
        if work.attributes:
            with self._uow() as uow:
                uow.attributes.upsert(list(work.attributes.values()))
                uow.commit()

    def _finish(self, messages: list[IngestMessage], work: _Work) -> None:
        """After commit: count, record activity, acknowledge, then notify listeners."""
        metrics = self._metrics
        metrics.batches.inc()
        metrics.points.inc(len(work.batch))
        channels = Counter(m.channel for m in messages)
        for channel, n in channels.items():
            metrics.messages.labels(channel=channel.value).inc(n)
        rejects: Counter[str] = Counter()
        seen: dict[str, int] = {}
        unknown = (RejectReason.UNKNOWN_DEVICE, RejectReason.DEVICE_DISABLED)
        for message, result in zip(messages, work.results, strict=True):
            if result.rejects:
                for reason, n in result.rejects.items():
                    rejects[reason.value] += n
                if result.error in unknown:
                    continue
            device_id, received_ms = message.device_id, message.received_ms
            if seen.get(device_id, -1) < received_ms:
                seen[device_id] = received_ms
        activity = self._activity_ms
        for device_id, received_ms in seen.items():
            if activity.get(device_id, -1) < received_ms:
                activity[device_id] = received_ms
        for activity_listener in self._activity_listeners:
            try:
                activity_listener(seen)
            except Exception:
                log.exception("activity listener failed")
        metrics.count_rejects(rejects)
        for message, result in zip(messages, work.results, strict=True):
            if message.on_done is not None:
                self._call_on_done(message.on_done, result)
        if len(work.batch):
            for listener in self._listeners:
                try:
                    listener(work.batch)
                except Exception:
                    metrics.callback_errors.labels(callback="listener").inc()
                    log.exception("ingest listener failed", extra={"listener": repr(listener)})

    def _call_on_done(self, on_done: Callable[[IngestOutcome], None], result: DecodeResult) -> None:
        if result.rejects:
            outcome = IngestOutcome(
                accepted=result.accepted,
                rejected={reason.value: n for reason, n in result.rejects.items()},
                error=None if result.error is None else result.error.value,
                examples=tuple((where, reason.value) for where, reason in result.examples),
            )
        else:  # the common case: nothing refused, nothing to explain
            outcome = IngestOutcome(result.accepted, _NO_REJECTS, None)
        try:
            on_done(outcome)
        except Exception:
            self._metrics.callback_errors.labels(callback="on_done").inc()
            log.exception("ingest on_done callback failed")
