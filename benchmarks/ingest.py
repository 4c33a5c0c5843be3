"""Ingest benchmark: sustained points/s and publish-to-queryable latency, beside the raw broker limit.

a) raw: broker + publisher processes + a bare paho subscriber that only decodes the JSON;
b) platform: `openiiot serve` as a subprocess, the same publishers, committed points from /metrics and
   latency from a prober polling telemetry/latest; with `--mode production`, PostgreSQL + Mosquitto + an
   api process and `--workers` ingest processes instead (benchmarks/ingest_production.py).
Talks only to 127.0.0.1, is bounded in time and stops every process it starts. See docs/benchmarks.md.
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
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]  # runs from a checkout too; `make bench` installs it anyway

import msgspec  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench_credentials import derive_token  # noqa: E402
from bench_harness import PublisherFleet, RunResult, machine_info, offered, sample_cpu_at, wait_port  # noqa: E402
from openiiot.domain.credentials import hash_token  # noqa: E402
from openiiot.sim.load import LoadSpec  # noqa: E402
from openiiot.sim.mqtt_pool import free_tcp_port  # noqa: E402

MARK_START = "<!-- bench:ingest:start -->"
MARK_END = "<!-- bench:ingest:end -->"
OBSERVER_USER = "observer"


# Headline shapes of `make bench`: small messages at a rate the pure-Python broker sustains next to the
# platform, and two ways of carrying 100 points per message (many keys; a gateway's buffered entries).
DEFAULT_SHAPES = ("10x1@5", "100x1@2.5", "10x10@2.5")
TARGET_PTS_S = 50_000
PRODUCTION_TARGET_PTS_S = 81_000  # the seed load: 81,000 devices x 10 values every 10 s
TARGET_P99_MS = 1_000.0


def parse_shape(text: str) -> LoadSpec:
    """`KEYSxENTRIES@RATE` (rate in messages/s per device, 0 = flat out) as a LoadSpec."""
    try:
        shape, rate = text.split("@")
        keys, entries = shape.lower().split("x")
        spec = LoadSpec(int(keys), int(entries), float(rate))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected KEYSxENTRIES@RATE such as 10x1@5, got {text!r}") from exc
    if spec.keys_per_msg < 1 or spec.entries_per_msg < 1 or spec.rate_hz < 0:
        raise argparse.ArgumentTypeError(f"keys and entries must be >= 1 and the rate >= 0: {text!r}")
    return spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line parameters."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--shape",
        dest="shapes",
        action="append",
        type=parse_shape,
        help="KEYSxENTRIES@RATE: keys per entry, timestamped entries per message, messages/s per device "
        f"(0 = flat out); repeat for several; default {' '.join(DEFAULT_SHAPES)}",
    )
    p.add_argument("--devices", type=int, default=200, help="simulated devices, each with its own connection")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds, after the warm-up")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--publishers", type=int, default=2, help="publisher processes")
    p.add_argument(
        "--load-generator",
        choices=["async", "paho"],
        default="async",
        help="async: pre-encoded packets on asyncio (benchmarks/mqtt_load.py); paho: openiiot.sim.load",
    )
    p.add_argument(
        "--mode",
        choices=["embedded", "production"],
        default="embedded",
        help="embedded: `openiiot serve`; production: PostgreSQL + Mosquitto + ingest workers",
    )
    p.add_argument("--workers", type=int, default=2, help="ingest worker processes (production mode)")
    p.add_argument(
        "--broker", choices=["embedded", "mosquitto"], default="embedded", help="broker of the raw run"
    )
    p.add_argument("--skip-raw", action="store_true")
    p.add_argument("--skip-platform", action="store_true")
    p.add_argument("--probe-devices", type=int, default=5, help="devices the latency prober polls")
    p.add_argument("--probe-hz", type=float, default=50.0, help="latency polls per second (all devices)")
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' = do not write")
    args = p.parse_args(argv)
    args.shapes = args.shapes or [parse_shape(s) for s in DEFAULT_SHAPES]
    return args


class RawSubscriber:
    """Subscribes to all telemetry, decodes each message and counts points and latency in the window."""

    def __init__(self, port: int, password: str, window: tuple[float, float]) -> None:
        self.window = window
        self.points_in_window = 0
        self.points_total = 0
        self.latencies_ms: list[float] = []
        self.last_rx_s = 0.0
        self._decoder = msgspec.json.Decoder()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-observer-raw")
        self.client.username_pw_set(OBSERVER_USER, password)
        self.client.on_connect = lambda c, *_: c.subscribe("v1/devices/+/telemetry", qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._ready.wait(15):
            self.close()
            raise RuntimeError("the raw subscriber could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        body = self._decoder.decode(msg.payload)
        entries = body if isinstance(body, list) else [body]
        points = sum(len(e["values"]) for e in entries)
        self.points_total += points
        self.last_rx_s = now
        if self.window[0] <= now < self.window[1]:
            self.points_in_window += points
            self.latencies_ms.append(now * 1000.0 - entries[-1]["ts"])

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def raw_broker(
    kind: str, secret: str, observer_password: str, workdir: Path
) -> Iterator[tuple[int, list[int]]]:
    """Start the broker of the raw run on a free port; yield the port and its pids; stop it."""
    port = free_tcp_port()
    if kind == "embedded":
        from openiiot.connectivity.mqtt.broker import BrokerRunConfig, EmbeddedBroker

        config = BrokerRunConfig(
            host="127.0.0.1",
            port=port,
            max_payload_bytes=1 << 20,
            service_username=OBSERVER_USER,
            service_password_hash=hash_token(observer_password),
            credentials_factory="bench_credentials:derived_credentials",
            credentials_arg=secret,
        )
        broker = EmbeddedBroker(config)
        broker.start()
        try:
            yield port, [broker.pid] if broker.pid is not None else []
        finally:
            broker.stop()
        return
    yield from _mosquitto(port, workdir)


def _mosquitto(port: int, workdir: Path) -> Iterator[tuple[int, list[int]]]:
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise SystemExit("--broker mosquitto needs the mosquitto binary")
    conf = workdir / "mosquitto.conf"
    user = os.environ.get("USER") or "root"
    conf.write_text(
        f"user {user}\nlistener {port} 127.0.0.1\n"
        "allow_anonymous true\npersistence false\nmax_queued_messages 0\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 10.0)
        yield port, [proc.pid]
    finally:
        proc.terminate()
        proc.wait(10)


def run_raw(args: argparse.Namespace, spec: LoadSpec) -> RunResult:
    """The raw limit: broker, publishers and a subscriber that only decodes."""
    secret = secrets.token_hex(16)
    observer_password = secrets.token_urlsafe(16)
    run = RunResult(f"raw ({args.broker} broker)")
    creds = [(f"bench-{i:05d}", derive_token(secret, f"bench-{i:05d}")) for i in range(args.devices)]
    with (
        tempfile.TemporaryDirectory(prefix="openiiot-bench-") as tmp,
        raw_broker(args.broker, secret, observer_password, Path(tmp)) as (port, broker_pids),
    ):
        start_at = time.time() + 3.0 + args.devices / 200.0
        window = (start_at + args.warmup, start_at + args.warmup + args.duration)
        subscriber = RawSubscriber(port, observer_password, window)
        try:
            fleet = PublisherFleet(
                "127.0.0.1", port, creds, spec, args.publishers, start_at, window[1], args.load_generator
            )
            processes = {"broker": broker_pids, "subscriber": [os.getpid()], "publishers": fleet.pids}
            busy = sample_cpu_at(window, processes)
            results = fleet.results(timeout_s=window[1] - time.time() + 60.0)
            published_pts = offered(results, spec, "raw", run)
            last_publish_s = max((r.last_publish_s for r in results), default=time.time())
            deadline = time.monotonic() + 30.0
            while subscriber.points_total < published_pts and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            subscriber.close()
    run.delivered_pts_s = subscriber.points_in_window / args.duration
    run.latencies_ms = subscriber.latencies_ms
    run.resolution_ms = 1.0  # one sample per message: receive time - ts, both in ms
    run.cpu_busy_pct = busy.result()
    run.process_cpu_pct = busy.per_process
    if subscriber.points_total < published_pts:
        run.notes.append(f"raw: subscriber got {subscriber.points_total:,} of {published_pts:,} points")
    else:
        run.drain_s = max(0.0, subscriber.last_rx_s - last_publish_s)
    return run


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _row(spec: LoadSpec, r: RunResult) -> str:
    shape = f"{spec.keys_per_msg} x {spec.entries_per_msg} @ {spec.rate_hz:g}/s"
    drain = "never" if r.drain_s is None else f"{r.drain_s:.1f}"
    named = "production" in r.scenario  # more process groups than the header names
    procs = " / ".join(f"{k} {v:.0f}" if named else f"{v:.0f}" for k, v in r.process_cpu_pct.items()) or "-"
    return (
        f"| {shape} | {r.scenario} | {r.offered_msg_s:,.0f} | {r.offered_pts_s:,.0f} | "
        f"{r.delivered_pts_s:,.0f} | "
        f"{_ms(r.percentile_ms(50))} | {_ms(r.percentile_ms(99))} | {len(r.latencies_ms):,} | "
        f"{_ms(r.resolution_ms)} | {drain} | {r.cpu_busy_pct:.0f} % | {procs} |"
    )


def _target(r: RunResult) -> int:
    return PRODUCTION_TARGET_PTS_S if "production" in r.scenario else TARGET_PTS_S


def _verdict(spec: LoadSpec, r: RunResult) -> str:
    p99 = r.percentile_ms(99)
    met = r.delivered_pts_s >= _target(r) and p99 is not None and p99 <= TARGET_P99_MS
    # keeping up: the window's commits match the offer and the backlog clears within a second at the end
    kept_up = r.delivered_pts_s >= 0.98 * r.offered_pts_s and r.drain_s is not None and r.drain_s <= 1.0
    return (
        f"- {spec.keys_per_msg} x {spec.entries_per_msg} @ {spec.rate_hz:g}/s: "
        f"{'meets' if met else 'misses'} the target ({r.delivered_pts_s:,.0f} points/s committed, "
        f"p99 {_ms(p99)} ms); {'keeps up with' if kept_up else 'falls behind'} the offered load"
    )


def render(
    results: list[tuple[LoadSpec, RunResult]], args: argparse.Namespace, machine: dict[str, str]
) -> str:
    """The markdown section with the machine, the parameters and one row per shape and run."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, "
        f"Python {machine['python']}, {machine['os']}.",
        "",
        f"{args.devices} devices (one MQTT connection each), QoS 1, {args.publishers} publisher processes, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run. Shape = keys x entries per "
        "message @ messages/s per device. Process CPU is % of one core: raw = broker / subscriber / "
        "publishers, platform = `openiiot serve` / its broker / publishers.",
        "",
        "| shape | run | offered msg/s | offered points/s | delivered / committed points/s | p50 ms | p99 ms "
        "| samples | resolution ms | drain s | machine CPU | process CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(spec, r) for spec, r in results]
    verdicts = [_verdict(spec, r) for spec, r in results if r.scenario.startswith("platform")]
    if verdicts:
        lines += [
            "",
            f"Target ({TARGET_PTS_S:,} points/s committed in embedded mode, {PRODUCTION_TARGET_PTS_S:,} in "
            f"production mode; p99 <= {TARGET_P99_MS:,.0f} ms):",
            *verdicts,
        ]
    notes = [f"{spec.keys_per_msg} x {spec.entries_per_msg}: {n}" for spec, r in results for n in r.notes]
    if notes:
        lines += ["", "Notes from this run:", *[f"- {n}" for n in notes]]
    command = " ".join(["python benchmarks/ingest.py", *sys.argv[1:]])
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines)


def write_doc(path: Path, section: str) -> None:
    """Replace the generated section of docs/benchmarks.md, keeping the hand-written text around it."""
    text = (
        path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{MARK_START}\n{MARK_END}\n"
    )
    if MARK_START not in text or MARK_END not in text:
        text = text.rstrip() + f"\n\n## Latest ingest run\n\n{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_START}\n{section}\n{MARK_END}{tail}", encoding="utf-8")


def run_shape(args: argparse.Namespace, spec: LoadSpec) -> list[RunResult]:
    """The raw and the platform run of one shape."""
    label = f"{spec.keys_per_msg} x {spec.entries_per_msg} @ {spec.rate_hz:g}/s"
    out: list[RunResult] = []
    if not args.skip_raw:
        print(f"{label}: raw run ({args.broker} broker, {args.devices} devices) ...", flush=True)
        out.append(run_raw(args, spec))
    if not args.skip_platform:
        from ingest_platform import run_platform
        from ingest_production import run_production

        print(f"{label}: platform run (openiiot serve, {args.mode}) ...", flush=True)
        try:
            out.append(run_production(args, spec) if args.mode == "production" else run_platform(args, spec))
        except Exception as exc:  # keep the other figures; say why the platform row is missing
            print(f"platform run failed: {exc}", file=sys.stderr, flush=True)
            failed = RunResult("platform")
            failed.notes.append(
                f"platform run failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            )
            out.append(failed)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every shape, print the table and write it to docs/benchmarks.md."""
    args = parse_args(argv)
    results = [(spec, run) for spec in args.shapes for run in run_shape(args, spec)]
    section = render(results, args, machine_info())
    print()
    print(section)
    if str(args.output) != "-":
        write_doc(args.output, section)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
