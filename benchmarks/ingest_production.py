"""The production-mode platform run of the ingest benchmark (`python benchmarks/ingest.py --mode production`).

PostgreSQL (a throw-away database on the local server, `OPENIIOT_BENCH_POSTGRES_URL`, default the test
server), a private Mosquitto on a free port, and the platform as separate processes: one `--role api`
(provisioning, the latency prober's reads) and `--workers` processes `--role ingest` sharing the device
topics. Committed points are counted in PostgreSQL (rows of `telemetry.raw`) at the start and end of the
measured window, since the ingest workers serve no /metrics; bytes on disk per million points are the
telemetry schema's relation sizes divided by the rows.

Mosquitto runs without device authentication here (`allow_anonymous true`, the platform in
`OPENIIOT_MQTT_AUTH=http` mode): provisioning tens of thousands of dynamic-security clients is a separate
cost (docs/deploy-broker.md), and the raw run beside it uses the same broker configuration. The broker lets
the platform's sessions keep unacknowledged messages in flight (`max_inflight_messages 0`): the ingest
workers acknowledge a message only after its batch is committed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from bench_harness import PublisherFleet, RunResult, offered, sample_cpu_at, wait_port
from ingest_platform import LatencyProber, PlatformApi, api_clone
from openiiot.sim.load import LoadSpec
from openiiot.sim.mqtt_pool import free_tcp_port

SERVER_URL = os.environ.get("OPENIIOT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICE_USER, SERVICE_PASSWORD = "openiiot-platform", "bench-service-password"


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    name = f"openiiot_bench_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head, _, _ = SERVER_URL.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[tuple[int, int]]:
    """A private Mosquitto tuned for the platform's QoS 1 sessions; yields (port, pid)."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise SystemExit("--mode production needs the mosquitto binary (apt-get install mosquitto)")
    port = free_tcp_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {os.environ.get('USER') or 'root'}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        "persistence false\nmax_inflight_messages 0\nmax_queued_messages 1000000\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 10.0)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def platform_processes(
    workdir: Path, database_url: str, mqtt_port: int, admin_password: str, workers: int
) -> Iterator[tuple[str, dict[str, list[int]]]]:
    """`serve --role api` and `workers` x `serve --role ingest`; yields (API base URL, pids by role)."""
    http_port = free_tcp_port()
    base_env = {
        **os.environ,
        "OPENIIOT_DATABASE_URL": database_url,
        "OPENIIOT_MQTT_URL": f"mqtt://{SERVICE_USER}:{SERVICE_PASSWORD}@127.0.0.1:{mqtt_port}",
        "OPENIIOT_MQTT_AUTH": "http",
        "OPENIIOT_ADMIN_PASSWORD": admin_password,
        "OPENIIOT_JWT_SECRET": "bench-" + secrets.token_hex(24),
        "OPENIIOT_LOG_LEVEL": os.environ.get("OPENIIOT_BENCH_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
        "OPENIIOT_HTTP_PORT": str(http_port),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    procs: dict[str, list[subprocess.Popen[bytes]]] = {"api": [], "ingest": []}
    logs = []
    try:
        for role, count in (("api", 1), ("ingest", workers)):
            for n in range(count):
                env = {
                    **base_env,
                    "OPENIIOT_DATA_DIR": str(workdir / f"{role}-{n}"),
                    "OPENIIOT_WORKER_NAME": str(n),
                }
                log = (workdir / f"{role}-{n}.log").open("wb")
                logs.append(log)
                command = [sys.executable, "-m", "openiiot.cli.app", "serve", "--role", role]
                profile_dir = os.environ.get("OPENIIOT_BENCH_PROFILE_DIR")
                if profile_dir and role == "ingest":  # cProfile per thread: benchmarks/thread_profile.py
                    command[1:1] = [str(Path(__file__).resolve().parent / "thread_profile.py"), profile_dir]
                procs[role].append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            if role == "api":
                api = procs["api"][0]
                try:
                    wait_port(http_port, 120.0, alive=lambda a=api: a.poll() is None)  # type: ignore[misc]
                except RuntimeError as exc:
                    tail = (workdir / "api-0.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"openiiot serve --role api did not come up: {exc}\n{tail}") from exc
        # a message published before a worker has subscribed reaches no one: wait until each says it runs
        deadline = time.monotonic() + 120.0
        for n, proc in enumerate(procs["ingest"]):
            log_path = workdir / f"ingest-{n}.log"
            while "running" not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"ingest worker {n} did not start: {tail}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{http_port}", {k: [p.pid for p in v] for k, v in procs.items()}
    finally:
        for proc in procs["api"] + procs["ingest"]:
            proc.terminate()
        for proc in procs["api"] + procs["ingest"]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in logs:
            log.close()


def postgres_pids(database_url: str) -> list[int]:
    """The server processes working for this database: its backends plus the WAL writer and checkpointer."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() "
            "AND pid <> pg_backend_pid()) "
            "OR backend_type IN ('walwriter', 'checkpointer', 'background writer')"
        ).fetchall()
    return [int(r[0]) for r in rows]


def stored_points(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM telemetry.raw").fetchone()
    return int(row[0]) if row else 0


def telemetry_bytes(database_url: str) -> int:
    """Bytes on disk of every table and index of the telemetry schema (partitions included)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'telemetry' AND c.relkind = 'r'"
        ).fetchone()
    return int(row[0]) if row else 0


def run_production(args: argparse.Namespace, spec: LoadSpec) -> RunResult:
    """Publish into the production-mode platform and measure committed points/s and latency."""
    password = secrets.token_urlsafe(16)
    run = RunResult(f"platform (production, {args.workers} ingest workers)")
    keys = [f"k{i:02d}" for i in range(spec.keys_per_msg)]
    with (
        tempfile.TemporaryDirectory(prefix="openiiot-bench-") as tmp,
        temporary_database() as database_url,
        mosquitto(Path(tmp)) as (mqtt_port, broker_pid),
        platform_processes(Path(tmp), database_url, mqtt_port, password, args.workers) as (base_url, pids),
    ):
        api = PlatformApi(base_url, password)
        try:
            creds = api.provision(args.devices, keys)
            start_at = time.time() + 3.0 + args.devices / 200.0
            window = (start_at + args.warmup, start_at + args.warmup + args.duration)
            fleet = PublisherFleet(
                "127.0.0.1", mqtt_port, creds, spec, args.publishers, start_at, window[1], args.load_generator
            )
            probe = [device_id for device_id, _ in creds[: args.probe_devices]]
            prober = LatencyProber(api_clone(base_url, api), probe, keys[0], window, 1.0 / args.probe_hz)
            prober.start()
            processes = {
                "ingest workers": pids["ingest"],
                "broker": [broker_pid],
                "publishers": fleet.pids,
                "api": pids["api"],
                "postgres": postgres_pids(database_url),
            }
            busy = sample_cpu_at(window, processes)
            time.sleep(max(0.0, window[0] - time.time()))
            first = stored_points(database_url)
            time.sleep(max(0.0, window[1] - time.time()))
            last = stored_points(database_url)
            results = fleet.results(timeout_s=window[1] - time.time() + 60.0)
            published_pts = offered(results, spec, "platform", run)
            prober.join(10)
            prober.api.close()
            last_publish_s = max((r.last_publish_s for r in results), default=time.time())
            deadline, total, reached_s = time.monotonic() + 120.0, last, None
            while time.monotonic() < deadline:
                total = stored_points(database_url)
                if total >= published_pts:
                    reached_s = time.time()
                    break
                time.sleep(0.5)
            size = telemetry_bytes(database_url)
        finally:
            api.close()
    run.delivered_pts_s = (last - first) / args.duration
    run.latencies_ms = prober.latencies_ms
    run.cpu_busy_pct = busy.result()
    run.process_cpu_pct = busy.per_process
    run.drain_s = None if reached_s is None else max(0.0, reached_s - last_publish_s)
    if prober.revisit_s:
        run.resolution_ms = 1000.0 * sum(prober.revisit_s) / len(prober.revisit_s)
    workers_core = run.process_cpu_pct.get("ingest workers", 0.0) / 100.0
    if run.delivered_pts_s > 0 and workers_core:
        run.notes.append(
            f"production: ingest workers used {1e6 * workers_core / run.delivered_pts_s:.1f} µs of CPU per "
            "committed point (process CPU seconds / points committed in the window)"
        )
    publishers_core = run.process_cpu_pct.get("publishers", 0.0) / 100.0
    if run.offered_msg_s > 0 and publishers_core:
        run.notes.append(
            f"production: the load generator ({args.load_generator}) used "
            f"{1e6 * publishers_core / run.offered_msg_s:.1f} µs of CPU per message"
        )
    if total:
        run.notes.append(
            f"production: {size / total * 1e6 / 2**20:,.0f} MiB on disk per million points stored"
        )
    if total < published_pts:
        run.notes.append(
            f"production: only {total:,} of {published_pts:,} published points stored within 120 s"
        )
    return run
