"""Cost of connectivity tracking: activity per ingest message, the inactivity check, flush and restart load.

    make bench BENCH=connectivity [BENCH_ARGS="--devices 81000 --output -"]

Measured in one run, on a SQLite metadata file like `openiiot serve` uses:

- activity tracking per message: what `IngestPipeline._finish` adds per message (the per-batch `seen`
  map) plus `ConnectivityService.activity` on batches of 1,000 messages over all devices (steady state:
  devices are known and active), beside the reference: decoding a 10-value message in the same run;
- one inactivity check over every device (none due, and 1 % due, whose events are written to SQLite);
- one flush of every device's state (the 30 s job when every device sent something) and the load at start.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from openiiot.domain.connectivity import DeviceConnectivity
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services import payloads
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory

ROOT = Path(__file__).resolve().parent.parent
MARK_START = "<!-- bench:connectivity:start -->"
MARK_END = "<!-- bench:connectivity:end -->"
NOW_MS = 1_800_000_000_000
TIMEOUT_S = 600
LIMITS = payloads.DecodeLimits(65536, 3_600_000, 10 * 365 * 86_400_000)


class FixedClock:
    """A clock the benchmark moves by hand."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def seed_states(uow: SqlUnitOfWorkFactory, devices: int) -> list[str]:
    """Every device active with a last activity spread over the last 5 minutes (rows written directly)."""
    rng = random.Random(7)
    ids = [f"dev-{i:06d}" for i in range(devices)]
    states = [
        DeviceConnectivity(
            device_id=d,
            tenant_id=f"tenant-{i % 1000:04d}",
            inactivity_timeout_s=TIMEOUT_S,
            connected=True,
            active=True,
            last_activity_ms=NOW_MS - rng.randrange(300_000),
            last_connected_ms=NOW_MS - 3_600_000,
        )
        for i, d in enumerate(ids)
    ]
    with uow() as u:
        u.connectivity.save_states(states)
        u.commit()
    return ids


def activity_cost(service: ConnectivityService, ids: list[str], messages: int) -> float:
    """Seconds per message for the pipeline's per-batch map plus the service's activity listener."""
    rng = random.Random(11)
    batches = [[rng.choice(ids) for _ in range(1000)] for _ in range(max(1, messages // 1000))]
    started = time.perf_counter()
    for n, batch in enumerate(batches):
        received_ms = NOW_MS + n
        seen: dict[str, int] = {}
        for device_id in batch:  # the same bookkeeping as IngestPipeline._finish
            seen[device_id] = max(seen.get(device_id, 0), received_ms)
        service.activity(seen)
    return (time.perf_counter() - started) / (len(batches) * 1000)


def decode_cost(messages: int) -> float:
    """Seconds per message to decode a 10-value telemetry message (the reference)."""
    payload = orjson.dumps({"ts": NOW_MS, "values": {f"k{j}": 1.5 + j for j in range(10)}})
    batch = TelemetryBatch()
    started = time.perf_counter()
    for i in range(messages):
        payloads.decode_telemetry(
            payload, device_id="dev-1", received_ms=NOW_MS, now_ms=NOW_MS, limits=LIMITS, out=batch
        )
        if i % 1000 == 999:
            batch = TelemetryBatch()
    return (time.perf_counter() - started) / messages


def run(devices: int, messages: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_metadata_engine(sqlite_url(Path(tmp) / "meta.sqlite"))
        upgrade_to_head(engine)
        uow = SqlUnitOfWorkFactory(engine)
        ids = seed_states(uow, devices)
        clock = FixedClock(NOW_MS)
        service = ConnectivityService(uow, DeviceDirectory(uow), clock)
        figures["load_s"] = median_s(lambda: service.load(sessions_reset=False), 1)
        figures["decode_us"] = decode_cost(messages) * 1e6
        figures["activity_us"] = activity_cost(service, ids, messages) * 1e6
        figures["check_none_due_ms"] = median_s(service.check, 20) * 1e3
        with service._lock:  # every device sent something since the last flush (the steady state)
            service._touched = set(ids)
        figures["flush_activity_s"] = median_s(service.flush, 1)
        with service._lock:  # every device changed state (e.g. all sessions closed by a restart)
            service._dirty = set(ids)
        figures["flush_all_s"] = median_s(service.flush, 1)
        # 1 % of the devices fall silent: their timeout passes and the check writes their events
        silent = ids[: devices // 100]
        with service._lock:  # the benchmark ages them by hand; nothing else runs
            for device_id in silent:
                service._states[device_id].last_activity_ms = NOW_MS - TIMEOUT_S * 1000 - 1
        started = time.perf_counter()
        written = service.check()
        figures["check_1pct_due_ms"] = (time.perf_counter() - started) * 1e3
        figures["events_written"] = written
        engine.dispose()
    return figures


def render(devices: int, messages: int, f: dict[str, float]) -> str:
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    share = f["activity_us"] / f["decode_us"] * 100
    check_cpu = f["check_none_due_ms"] / 1000 / 2.0 * 100
    return "\n".join(
        [
            f"Measured {when} on {cpu}, {os.cpu_count()} cores (load average {load}), "
            f"Python {platform.python_version()}; {devices:,} devices, SQLite metadata file.",
            "",
            "| what | figure | reference in the same run |",
            "|---|---:|---|",
            f"| activity tracking per ingest message (batches of 1,000) | {f['activity_us']:.3f} µs "
            f"| decoding one 10-value message: {f['decode_us']:.2f} µs ({share:.1f} % of it) |",
            f"| inactivity check, none due | {f['check_none_due_ms']:.1f} ms "
            f"| runs every 2 s: {check_cpu:.1f} % of one core |",
            f"| inactivity check, 1 % due ({int(f['events_written']):,} events written) "
            f"| {f['check_1pct_due_ms']:.1f} ms | |",
            f"| flush, every device sent data since the last one (30 s job) | {f['flush_activity_s']:.2f} s "
            f"| {f['flush_activity_s'] / 30 * 100:.1f} % of one core at one flush per 30 s |",
            f"| flush, every device's whole state changed (after a restart) | {f['flush_all_s']:.2f} s | |",
            f"| load of every state at start | {f['load_s']:.2f} s | |",
            "",
            f"Command: `python benchmarks/connectivity.py --devices {devices} --messages {messages}`",
        ]
    )


def write_marked(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_START not in text:
        text = text.rstrip() + "\n\n## Connectivity: activity tracking and the inactivity check\n\n"
        text += f"{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_START}\n{section}\n{MARK_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=81_000)
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' = do not write")
    args = p.parse_args(argv)
    figures = run(args.devices, args.messages)
    section = render(args.devices, args.messages, figures)
    print(section)
    if str(args.output) != "-":
        write_marked(args.output, section)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
