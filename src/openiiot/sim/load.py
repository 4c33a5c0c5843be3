"""Synthetic load generator: many devices publishing N-key telemetry at a fixed rate or flat out."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import orjson

from openiiot.sim.mqtt_pool import MqttClientPool
from openiiot.sim.publisher import telemetry_topic

_FLAT_OUT_WINDOW_PER_CLIENT = 20  # unacknowledged messages per connection when publishing flat out


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Shape and pace of the generated telemetry."""

    keys_per_msg: int = 25
    entries_per_msg: int = 1  # >1: a list of timestamped entries per message (a buffering device)
    rate_hz: float = 10.0  # messages per second per device; 0 = as fast as the broker acknowledges

    @property
    def entry_spacing_ms(self) -> int:
        """Time between the entries of one message; entries of successive messages never overlap."""
        if self.rate_hz <= 0:
            return 1
        return max(1, int(1000.0 / (self.rate_hz * self.entries_per_msg)))

    @property
    def points_per_msg(self) -> int:
        """Telemetry points carried by one message."""
        return self.keys_per_msg * self.entries_per_msg


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one publisher process did."""

    devices: int
    connected: int
    published: int
    acked: int
    dropped: int
    first_publish_s: float  # wall clock (epoch seconds)
    last_publish_s: float


class SyntheticDevice:
    """Builds one device's messages; the newest entry's `ts` is the publish time (for latency probes)."""

    def __init__(self, device_id: str, spec: LoadSpec, rng: random.Random) -> None:
        self.device_id = device_id
        self.topic = telemetry_topic(device_id)
        self.spec = spec
        self._keys = [f"k{i:02d}" for i in range(spec.keys_per_msg)]
        self._rng = rng
        self._last_ts_ms = 0

    def payload(self, now_ms: int) -> bytes:
        """One message: `{"ts", "values"}` or a list of them; timestamps strictly increase per device."""
        spec = self.spec
        spacing = spec.entry_spacing_ms
        end_ms = max(now_ms, self._last_ts_ms + spacing * spec.entries_per_msg)
        self._last_ts_ms = end_ms
        uniform = self._rng.uniform
        entries = [
            {
                "ts": end_ms - (spec.entries_per_msg - 1 - j) * spacing,
                "values": {k: round(uniform(0, 100), 3) for k in self._keys},
            }
            for j in range(spec.entries_per_msg)
        ]
        return orjson.dumps(entries[0] if len(entries) == 1 else entries)


def run_publisher(
    host: str,
    port: int,
    credentials: Sequence[tuple[str, str]],
    spec: LoadSpec,
    start_at_s: float,
    stop_at_s: float,
    report: Connection,
    phase_s: float = 0.0,
) -> None:
    """Connect every device, publish from `start_at_s` to `stop_at_s` (epoch s), then report a LoadResult."""
    pool = MqttClientPool(host, port, max_inflight=_FLAT_OUT_WINDOW_PER_CLIENT)
    rng = random.Random(port)
    devices = [SyntheticDevice(device_id, spec, rng) for device_id, _ in credentials]
    for device_id, token in credentials:
        pool.add(device_id, token)
    connected = pool.connect_all(timeout_s=max(5.0, start_at_s - time.time()))
    while (wait_s := start_at_s + phase_s - time.time()) > 0:
        pool.pump(min(wait_s, 0.2))
    first = time.time()
    if spec.rate_hz > 0:
        _publish_paced(pool, devices, spec.rate_hz, stop_at_s)
    else:
        _publish_flat_out(pool, devices, stop_at_s)
    last = time.time()
    pool.drain(timeout_s=10.0)
    stats = pool.stats
    pool.close()
    report.send(LoadResult(len(devices), connected, stats.published, stats.acked, stats.dropped, first, last))
    report.close()


def _publish_paced(
    pool: MqttClientPool, devices: list[SyntheticDevice], rate_hz: float, stop_at_s: float
) -> None:
    period_s = 1.0 / rate_hz
    t_next = time.time()
    while t_next < stop_at_s:
        now_ms = int(time.time() * 1000)
        for device in devices:
            pool.publish(device.device_id, device.topic, device.payload(now_ms))
        t_next += period_s
        while (wait_s := t_next - time.time()) > 0:
            pool.pump(min(wait_s, 0.1))
        pool.pump(0.0)


def _publish_flat_out(pool: MqttClientPool, devices: list[SyntheticDevice], stop_at_s: float) -> None:
    window = _FLAT_OUT_WINDOW_PER_CLIENT * len(devices)
    while time.time() < stop_at_s:
        now_ms = int(time.time() * 1000)
        for device in devices:
            if pool.outstanding < window:
                pool.publish(device.device_id, device.topic, device.payload(now_ms))
        pool.pump(0.0 if pool.outstanding < window else 0.005)
