"""Decode + append throughput of the ingest hot path: msgspec decoder against the stdlib json as reference.

    PYTHONPATH=src .venv/bin/python benchmarks/decode.py [--messages 20000] [--keys 10]

Prints points/s for decode only, decode + DuckDB append (5,000-point-ish batches), and the whole pipeline
(submit -> worker -> DuckDB -> on_done), all measured in the same run on the same messages.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from openiiot.domain.model import Device, DeviceProfile, Tenant
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services import payloads
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome, IngestPipeline
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore

NOW_MS = 1_700_000_000_000
LIMITS = payloads.DecodeLimits(65536, 3_600_000, 10 * 365 * 86_400_000)
DEVICES = 100


class StdlibDecoder:
    """The reference: the standard library's json module in place of msgspec."""

    def decode(self, payload: bytes) -> Any:
        return json.loads(payload)


def make_messages(count: int, keys: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        values = {f"k{j}": round(i * 0.37 + j, 3) for j in range(keys)}
        out.append((f"dev-{i % DEVICES}", json.dumps({"ts": NOW_MS - count + i, "values": values}).encode()))
    return out


def decode_all(
    messages: list[tuple[str, bytes]], batch_messages: int, sink: Callable[[TelemetryBatch], Any]
) -> int:
    points = 0
    batch = TelemetryBatch()
    for n, (device_id, payload) in enumerate(messages, 1):
        result = payloads.decode_telemetry(
            payload, device_id=device_id, received_ms=NOW_MS, now_ms=NOW_MS, limits=LIMITS, out=batch
        )
        points += result.accepted
        if n % batch_messages == 0:
            sink(batch)
            batch = TelemetryBatch()
    if len(batch):
        sink(batch)
    return points


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    points = fn()
    return points, time.perf_counter() - started


def run_pipeline(messages: list[tuple[str, bytes]], path: Path, batch_max: int) -> tuple[int, float]:
    uow = MemoryUnitOfWorkFactory()
    with uow() as u:
        u.tenants.add(Tenant(id="t", name="bench"))
        u.profiles.add(DeviceProfile(id="p", tenant_id="t", name="bench"))
        for i in range(DEVICES):
            u.devices.add(Device(id=f"dev-{i}", tenant_id="t", name=f"d{i}", profile_id="p"))
        u.commit()
    store = DuckDBTelemetryStore(path)
    clock = type("Clock", (), {"now_ms": staticmethod(lambda: NOW_MS)})()
    pipeline = IngestPipeline(
        directory=DeviceDirectory(uow),
        uow=uow,
        store=store,
        clock=clock,
        metrics=IngestMetrics(CollectorRegistry()),
        max_payload_bytes=65536,
        max_future_ms=LIMITS.max_future_ms,
        max_past_ms=LIMITS.max_past_ms,
        queue_size=20_000,
        batch_max=batch_max,
        batch_wait_ms=20,
    )
    done = threading.Semaphore(0)
    accepted = [0]

    def on_done(outcome: IngestOutcome) -> None:
        accepted[0] += outcome.accepted
        done.release()

    pipeline.start()
    started = time.perf_counter()
    for device_id, payload in messages:
        pipeline.submit(IngestMessage(device_id, Channel.TELEMETRY, payload, NOW_MS, on_done))
    for _ in messages:
        done.acquire()
    elapsed = time.perf_counter() - started
    pipeline.stop()
    store.close()
    return accepted[0], elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=10, help="values per message")
    parser.add_argument("--batch-max", type=int, default=2000, help="messages per pipeline batch")
    args = parser.parse_args()
    messages = make_messages(args.messages, args.keys)
    batch_messages = max(1, 5000 // args.keys)
    rows: list[tuple[str, int, float]] = []
    original = payloads._DECODER
    with tempfile.TemporaryDirectory() as tmp:
        for name, decoder in (("msgspec", original), ("stdlib json", StdlibDecoder())):
            payloads._DECODER = decoder  # type: ignore[assignment]
            try:
                rows.append(
                    (f"decode only, {name}", *timed(lambda: decode_all(messages, batch_messages, len)))
                )
                store = DuckDBTelemetryStore(Path(tmp) / f"{name.replace(' ', '_')}.duckdb")
                append = store.append
                rows.append(
                    (
                        f"decode + DuckDB append, {name}",
                        *timed(lambda a=append: decode_all(messages, batch_messages, a)),
                    )
                )
                store.close()
            finally:
                payloads._DECODER = original  # type: ignore[misc]
        rows.append(
            (
                f"whole pipeline, batch_max={args.batch_max}",
                *run_pipeline(messages, Path(tmp) / "pipe.duckdb", args.batch_max),
            )
        )
    print(f"{args.messages} messages x {args.keys} values, {DEVICES} devices")
    print(f"{'path':40} {'points':>10} {'seconds':>9} {'points/s':>12}")
    for name, points, seconds in rows:
        print(f"{name:40} {points:>10} {seconds:>9.3f} {points / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
