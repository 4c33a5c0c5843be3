"""Prometheus metrics of the ingest hot path, registered in an explicit registry (never the global one)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Batches take from sub-millisecond (a few points) to seconds (a store under pressure).
_BATCH_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    """Counters, histogram and gauge of the ingest pipeline, plus a plain-Python view of rejects for tests."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.messages = Counter(
            "openiiot_ingest_messages",
            "Device messages taken off the ingest queue",
            ["channel"],
            registry=registry,
        )
        self.points = Counter("openiiot_ingest_points", "Telemetry points committed", registry=registry)
        self.rejects = Counter(
            "openiiot_ingest_rejects", "Refused messages or values, by reason", ["reason"], registry=registry
        )
        self.batches = Counter("openiiot_ingest_batches", "Batches committed", registry=registry)
        self.store_errors = Counter(
            "openiiot_ingest_store_errors", "Failed attempts to commit a batch (retried)", registry=registry
        )
        self.callback_errors = Counter(
            "openiiot_ingest_callback_errors",
            "Exceptions raised by on_done callbacks or batch listeners",
            ["callback"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "openiiot_ingest_batch_seconds",
            "Time to decode and commit one batch",
            buckets=_BATCH_BUCKETS_S,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "openiiot_ingest_queue_depth", "Messages waiting in the ingest queue", registry=registry
        )
        self._lock = threading.Lock()
        self._rejects: dict[str, int] = {}

    def count_rejects(self, rejects: Mapping[str, int]) -> None:
        """Add per-reason reject counts (reasons are RejectReason values)."""
        if not rejects:
            return
        with self._lock:
            for reason, n in rejects.items():
                self._rejects[reason] = self._rejects.get(reason, 0) + n
        for reason, n in rejects.items():
            self.rejects.labels(reason=str(reason)).inc(n)

    def rejects_snapshot(self) -> dict[str, int]:
        """Rejects counted so far, by reason."""
        with self._lock:
            return dict(self._rejects)
