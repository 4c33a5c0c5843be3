"""Exports the embedded broker's counters (from `$platform/broker/stats`) on the platform's /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class BrokerStatsCollector(Collector):
    """Prometheus collector reading the latest broker stats snapshot the MQTT consumer received."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Denials by reason, delivery events, and session counts."""
        stats = self._snapshot() or {}
        denied = CounterMetricFamily(
            "openiiot_broker_denied",
            "Connections and actions the broker refused, by reason",
            labels=["reason"],
        )
        for reason, count in sorted((stats.get("denied") or {}).items()):
            denied.add_metric([reason], float(count))
        yield denied
        events = CounterMetricFamily(
            "openiiot_broker_events", "Broker delivery events (redeliveries, ack timeouts)", labels=["event"]
        )
        for event, count in sorted((stats.get("events") or {}).items()):
            events.add_metric([event], float(count))
        yield events
        yield GaugeMetricFamily(
            "openiiot_broker_connected_clients",
            "MQTT clients connected",
            value=float(stats.get("connected", 0)),
        )
