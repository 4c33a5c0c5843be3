"""CPU cost of alarm rule evaluation per ingest message, measured in this process (no broker, no HTTP).

Replays the alarm benchmark's load through `AlarmEngine.on_batch` over a real SQLite metadata database:
200 devices sending 10 keys x 10 entries every 400 ms (the 10x10@2.5 shape, 50,000 points/s), grouped into
ingest batches of 50 ms as `openiiot serve` would commit them, with the ten rules of `benchmarks/alarms.py`
on the devices' profile. Reports `time.process_time` per 100-point message for `on_batch` with and without
the rules (the difference is the rules' cost), or a cProfile listing with `--profile`.

The first `--warmup-s` simulated seconds fill the rules' windows and are not measured; the rate-of-change
and deviation windows (60 s and 600 s) grow for that long, so `--warmup-s 600` shows the steady state.
Bounded in time; starts no processes; prints only (docs/benchmarks.md is written by benchmarks/alarms.py).
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from argon2 import PasswordHasher  # noqa: E402

from alarms import ten_rules  # noqa: E402
from openiiot.domain.model import Principal, Role  # noqa: E402
from openiiot.domain.telemetry import TelemetryBatch  # noqa: E402
from openiiot.services.alarm_engine import AlarmEngine  # noqa: E402
from openiiot.services.auth import PasswordHashing  # noqa: E402
from openiiot.services.device_directory import DeviceDirectory  # noqa: E402
from openiiot.services.management import build_services  # noqa: E402
from openiiot.storage.memory.telemetry import MemoryTelemetryStore  # noqa: E402
from openiiot.storage.sql.engine import create_metadata_engine, sqlite_url  # noqa: E402
from openiiot.storage.sql.migrate import upgrade_to_head  # noqa: E402
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory  # noqa: E402

START_MS = 1_767_225_600_000
ROOT_USER = Principal(user_id="root", username="root", role=Role.PLATFORM_ADMIN, tenant_id=None)
MSG_PERIOD_MS = 400  # 2.5 messages/s per device
ENTRIES = 10
KEYS = [f"k{i:02d}" for i in range(10)]
BATCH_MS = 50  # the ingest pipeline's batch wait


class Clock:
    def __init__(self) -> None:
        self.now = START_MS

    def now_ms(self) -> int:
        return self.now


def build(workdir: Path, devices: int, with_rules: bool) -> tuple[AlarmEngine, list[str], Clock]:
    """A SQLite metadata database with one profile of `devices` devices and (optionally) the ten rules."""
    engine = create_metadata_engine(sqlite_url(workdir / "meta.db"))
    upgrade_to_head(engine)
    uow = SqlUnitOfWorkFactory(engine)
    clock = Clock()
    services = build_services(
        uow,
        MemoryTelemetryStore(),
        clock,
        "bench-secret-0123456789abcdef-0123456789",
        900,
        passwords=PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
    )
    tenant = services.tenants.create(ROOT_USER, {"name": "bench", "timezone": "UTC"})
    admin = Principal(user_id="admin", username="admin", role=Role.TENANT_ADMIN, tenant_id=tenant.id)
    profile = services.profiles.create(admin, {"name": "synthetic", "keys": [{"key": k} for k in KEYS]})
    ids = [
        services.devices.create(admin, {"name": f"dev-{i:04d}", "profile_id": profile.id}).device.id
        for i in range(devices)
    ]
    if with_rules:
        for rule in ten_rules():
            services.alarms.create_rule(admin, profile.id, rule)
    activity: dict[str, int] = {}
    alarm_engine = AlarmEngine(uow, DeviceDirectory(uow), clock, last_activity=activity.get)
    alarm_engine.activity = activity  # type: ignore[attr-defined]  # the replay updates it
    return alarm_engine, ids, clock


def batches(ids: list[str], seconds: float, seed: int) -> Iterator[tuple[int, TelemetryBatch, int]]:
    """(commit time, batch, messages) for `seconds` of load; device i publishes at phase i/len(ids).

    Made as they are replayed: ten minutes of load are 30 million points."""
    rng = random.Random(seed)
    spacing = MSG_PERIOD_MS // ENTRIES
    phase = [i * MSG_PERIOD_MS // len(ids) for i in range(len(ids))]
    for start in range(0, int(seconds * 1000), BATCH_MS):
        batch, messages = TelemetryBatch(), 0
        for cycle_ms in (start - start % MSG_PERIOD_MS, start - start % MSG_PERIOD_MS + MSG_PERIOD_MS):
            for i, device_id in enumerate(ids):
                end = cycle_ms + phase[i]
                if not start <= end < start + BATCH_MS:
                    continue
                messages += 1
                for j in range(ENTRIES):
                    ts = START_MS + end - (ENTRIES - 1 - j) * spacing
                    for key in KEYS:
                        batch.add(device_id, key, ts, round(rng.uniform(0, 100), 3))
        yield START_MS + start + BATCH_MS, batch, messages


def replay(
    engine: AlarmEngine, clock: Clock, load: Iterable[tuple[int, TelemetryBatch, int]]
) -> tuple[float, int]:
    """Feed the batches; returns (CPU seconds in on_batch, messages)."""
    activity: dict[str, int] = engine.activity  # type: ignore[attr-defined]
    cpu, messages = 0.0, 0
    for now_ms, batch, n in load:
        clock.now = now_ms
        for device_id in set(batch.device_id):
            activity[device_id] = now_ms
        t0 = time.process_time()
        engine.on_batch(batch)
        cpu += time.process_time() - t0
        messages += n
    if engine.errors:
        raise RuntimeError(f"{engine.errors} alarm evaluations failed")
    return cpu, messages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--warmup-s", type=float, default=5.0, help="simulated seconds before measuring")
    p.add_argument("--seconds", type=float, default=10.0, help="simulated seconds measured")
    p.add_argument("--profile", action="store_true", help="print a cProfile listing of the measured part")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    per_msg: dict[bool, float] = {}
    for with_rules in (False, True):
        with tempfile.TemporaryDirectory(prefix="openiiot-alarm-cpu-") as tmp:
            engine, ids, clock = build(Path(tmp), args.devices, with_rules)
            load = batches(ids, args.warmup_s + args.seconds, args.seed)
            split = int(args.warmup_s * 1000) // BATCH_MS
            replay(engine, clock, itertools.islice(load, split))
            profiler = cProfile.Profile() if args.profile and with_rules else None
            if profiler is not None:
                profiler.enable()
            cpu, messages = replay(engine, clock, load)
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            per_msg[with_rules] = cpu / messages * 1000
            print(
                f"{'10 rules' if with_rules else 'no rules'}: {messages} messages, "
                f"{cpu:.2f} s CPU in on_batch, "
                f"{per_msg[with_rules]:.3f} ms per 100-point message, {engine.transitions} transitions"
                + (" (under the profiler)" if profiler is not None else ""),
                flush=True,
            )
    print(f"the rules' cost: {per_msg[True] - per_msg[False]:.3f} ms CPU per 100-point message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
