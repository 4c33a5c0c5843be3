"""A cheap MQTT load generator: one asyncio loop per process holds every device connection and writes
pre-encoded MQTT 3.1.1 packets, so that a benchmark measures the broker and the platform, not the publishers.

Per connection the PUBLISH packet's fixed header, topic and payload length never change; only the packet id,
the timestamp digits and the values (drawn from a pre-encoded pool) are filled in per message. QoS 1: every
PUBLISH carries a packet id and the broker's PUBACKs are read and counted. The same process function as
`openiiot.sim.load.run_publisher` (signature and `LoadResult` report), so `PublisherFleet` runs either.

    python benchmarks/mqtt_load.py --compare --devices 1000 --rate 8.1 --duration 15

`--compare` starts a private Mosquitto and offers the same load with the paho publishers and with this
generator, one after the other, and prints the publishers' CPU per message of each.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).resolve().parent)]

from openiiot.sim.load import LoadResult, LoadSpec  # noqa: E402
from openiiot.sim.publisher import telemetry_topic  # noqa: E402

_VALUE_POOL = 4096  # pre-encoded `values` objects drawn round-robin (different values, no per-message work)
_FLAT_OUT_WINDOW = 20  # unacknowledged messages per connection when publishing flat out
_SLOTS_PER_PERIOD = 50  # the devices are spread over this many send instants per period
_TS_DIGITS = 13  # epoch milliseconds have 13 digits from 2001 to 2286: a fixed-width field


def _remaining_length(n: int) -> bytes:
    """MQTT variable-length integer (MQTT 3.1.1 section 2.2.3)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, username: str | None, password: str | None) -> bytes:
    """CONNECT, protocol level 4 (3.1.1), clean session, keep-alive 0 (the broker never times us out)."""
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 0) + _utf8(client_id)
    if username is not None:
        body += _utf8(username)
    if password is not None:
        body += _utf8(password)
    return b"\x10" + _remaining_length(len(body)) + body


def value_pool(spec: LoadSpec, rng: random.Random) -> list[bytes]:
    """Pre-encoded `{"k00":12.345,...}` objects, every value with the same width (so every size is fixed)."""
    keys = [f"k{i:02d}" for i in range(spec.keys_per_msg)]
    return [
        ("{" + ",".join(f'"{k}":{rng.uniform(10, 99.999):06.3f}' for k in keys) + "}").encode()
        for _ in range(_VALUE_POOL)
    ]


class _Device(asyncio.Protocol):
    """One device connection: CONNECT on open, then count CONNACK and PUBACKs in what the broker sends."""

    def __init__(self, device_id: str, token: str, spec: LoadSpec, payload_len: int) -> None:
        self.device_id = device_id
        self.connect = connect_packet(device_id, device_id, token)
        topic = _utf8(telemetry_topic(device_id))
        # fixed header (PUBLISH, QoS 1) + topic; then the 2-byte packet id and the payload follow
        self.prefix = b"\x32" + _remaining_length(len(topic) + 2 + payload_len) + topic
        self.transport: asyncio.Transport | None = None
        self.connected = asyncio.get_running_loop().create_future()
        self.closed = False
        self.mid = 0
        self.published = 0
        self.acked = 0
        self.dropped = 0
        self._buf = b""

    @property
    def outstanding(self) -> int:
        return self.published - self.acked

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.connect)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        i, n = 0, len(buf)
        while i + 2 <= n:
            kind = buf[i] & 0xF0
            length = buf[i + 1]
            if length & 0x80:  # only PUBACK (2) and CONNACK (2) are expected; anything else is skipped
                j, length, mult = i + 1, 0, 1
                while j < n and buf[j] & 0x80:
                    length += (buf[j] & 0x7F) * mult
                    mult *= 128
                    j += 1
                if j >= n:
                    break
                length += buf[j] * mult
                head = j + 1 - i
            else:
                head = 2
            if i + head + length > n:
                break
            if kind == 0x40:
                self.acked += 1
            elif kind == 0x20 and not self.connected.done():
                ok = length >= 2 and buf[i + head + 1] == 0
                self.connected.set_result(ok)
            i += head + length
        self._buf = buf[i:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.connected.done():
            self.connected.set_result(False)

    def send(self, payload: bytes) -> bool:
        """Write one PUBLISH; False (counted as dropped) when the connection is gone."""
        if self.closed or self.transport is None:
            self.dropped += 1
            return False
        self.mid = self.mid % 65535 + 1
        self.transport.write(self.prefix + self.mid.to_bytes(2, "big") + payload)
        self.published += 1
        return True


class _Payloads:
    """Builds payloads from a timestamp: the ts digits and a value object from the pool per entry."""

    def __init__(self, spec: LoadSpec, rng: random.Random) -> None:
        self.spec = spec
        self.pool = value_pool(spec, rng)
        self._next = 0
        # every entry: {"ts":<13 digits>,"values":<pool item>}
        entry_len = len(b'{"ts":') + _TS_DIGITS + len(b',"values":') + len(self.pool[0]) + 1
        n = spec.entries_per_msg
        self.length = entry_len if n == 1 else 2 + n * entry_len + (n - 1)

    def build(self, end_ms: int) -> bytes:
        spec, pool = self.spec, self.pool
        if spec.entries_per_msg == 1:
            self._next = (self._next + 1) % _VALUE_POOL
            return b'{"ts":%d,"values":%b}' % (end_ms, pool[self._next])
        spacing = spec.entry_spacing_ms
        parts = []
        for j in range(spec.entries_per_msg):
            self._next = (self._next + 1) % _VALUE_POOL
            ts = end_ms - (spec.entries_per_msg - 1 - j) * spacing
            parts.append(b'{"ts":%d,"values":%b}' % (ts, pool[self._next]))
        return b"[" + b",".join(parts) + b"]"


async def _publish(
    host: str,
    port: int,
    credentials: Sequence[tuple[str, str]],
    spec: LoadSpec,
    start_at_s: float,
    stop_at_s: float,
    phase_s: float,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    payloads = _Payloads(spec, random.Random(port))
    devices = [_Device(d, token, spec, payloads.length) for d, token in credentials]
    connect_timeout_s = max(5.0, start_at_s - time.time())
    for i in range(0, len(devices), 200):  # a burst of thousands of SYNs at once overflows the backlog
        batch = devices[i : i + 200]
        await asyncio.gather(
            *(loop.create_connection(lambda d=d: d, host, port) for d in batch), return_exceptions=True
        )
    done, _ = await asyncio.wait([d.connected for d in devices], timeout=connect_timeout_s)
    connected = sum(1 for f in done if f.result())
    live = [d for d in devices if d.connected.done() and d.connected.result()]
    await asyncio.sleep(max(0.0, start_at_s + phase_s - time.time()))
    first_s = time.time()
    last_ms = 0
    if spec.rate_hz > 0:
        period_s = 1.0 / spec.rate_hz
        slots = [live[j::_SLOTS_PER_PERIOD] for j in range(_SLOTS_PER_PERIOD)]
        slot_s = period_s / _SLOTS_PER_PERIOD
        t_next = time.time()
        while t_next < stop_at_s:
            for group in slots:
                # strictly increasing per device: a device's next message comes a whole period later
                end_ms = max(int(time.time() * 1000), last_ms + 1)
                last_ms = end_ms
                for device in group:
                    device.send(payloads.build(end_ms))
                t_next += slot_s
                wait_s = t_next - time.time()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                elif wait_s < -period_s:  # far behind (the machine is saturated): skip, do not burst
                    t_next = time.time()
                if t_next >= stop_at_s:
                    break
    else:
        while time.time() < stop_at_s:
            end_ms = max(int(time.time() * 1000), last_ms + 1)
            last_ms = end_ms
            for device in live:
                if device.outstanding < _FLAT_OUT_WINDOW:
                    device.send(payloads.build(end_ms))
            await asyncio.sleep(0.001)
    last_s = time.time()
    deadline = time.monotonic() + 10.0
    # polls the counters data_received updates, for at most 10 s
    while any(d.outstanding > 0 and not d.closed for d in live) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for device in devices:
        if device.transport is not None and not device.closed:
            device.transport.write(b"\xe0\x00")  # DISCONNECT
            device.transport.close()
    await asyncio.sleep(0.1)
    return LoadResult(
        devices=len(devices),
        connected=connected,
        published=sum(d.published for d in devices),
        acked=sum(d.acked for d in devices),
        dropped=sum(d.dropped for d in devices),
        first_publish_s=first_s,
        last_publish_s=last_s,
    )


def run_async_publisher(
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
    result = asyncio.run(_publish(host, port, credentials, spec, start_at_s, stop_at_s, phase_s))
    report.send(result)
    report.close()


def compare(args: argparse.Namespace) -> None:
    """Offer the same load with the paho publishers and with this generator; print CPU per message."""
    from bench_harness import PublisherFleet, process_cpu_s
    from ingest_production import mosquitto

    spec = LoadSpec(args.keys, 1, args.rate)
    creds = [(f"bench-{i:05d}", "x") for i in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="openiiot-load-") as tmp, mosquitto(Path(tmp)) as (port, broker):
        for name, processes in (("paho (openiiot.sim.load)", args.paho_processes), ("asyncio (this)", 1)):
            start_at = time.time() + 3.0 + args.devices / 300.0
            stop_at = start_at + args.duration
            target = "paho" if name.startswith("paho") else "async"
            fleet = PublisherFleet("127.0.0.1", port, creds, spec, processes, start_at, stop_at, target)
            time.sleep(max(0.0, start_at + 1.0 - time.time()))
            t0, c0, b0 = time.monotonic(), sum(map(process_cpu_s, fleet.pids)), process_cpu_s(broker)
            time.sleep(max(0.0, stop_at - 0.5 - time.time()))
            t1, c1, b1 = time.monotonic(), sum(map(process_cpu_s, fleet.pids)), process_cpu_s(broker)
            results = fleet.results(timeout_s=60.0)
            published = sum(r.published for r in results)
            acked = sum(r.acked for r in results)
            span = max(r.last_publish_s for r in results) - min(r.first_publish_s for r in results)
            rate = published / span
            print(
                f"{name}: {processes} process(es), {rate:,.0f} msg/s offered ({published:,} published, "
                f"{acked:,} acked), publishers {100 * (c1 - c0) / (t1 - t0):.0f} % of a core = "
                f"{1e6 * (c1 - c0) / (rate * (t1 - t0)):.1f} µs CPU per message; "
                f"broker {1e6 * (b1 - b0) / (rate * (t1 - t0)):.1f} µs per message",
                flush=True,
            )


def main() -> None:
    """`--compare`: the paho publishers against this generator at the same load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", required=True)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--rate", type=float, default=8.1, help="messages/s per device")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--paho-processes", type=int, default=2)
    compare(parser.parse_args())


if __name__ == "__main__":
    main()
