"""Alarm benchmark: ingest throughput with and without 10 alarm rules per profile, and alarm latency.

Two runs of `openiiot serve` under the same publisher load (the foundation's benchmark shape):
a) no rules: committed points/s and CPU;
b) 10 rules on the devices' profile (threshold with two levels, duration, range, count in window, rate of
   change, deviation from a rolling baseline, no data, an AND and an OR tree): committed points/s and CPU,
   and alarm latency — a separate device publishes a violating value, then a normal one, again and again;
   a poller asks `GET /api/v1/alarms` 20 times a second; a sample is "alarm visible" - "publish time".
Talks only to 127.0.0.1, is bounded in time and stops every process it starts. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench_harness import PublisherFleet, RunResult, machine_info, offered, sample_cpu_at  # noqa: E402
from ingest import parse_shape  # noqa: E402
from ingest_platform import PlatformApi, child_pids, committed_in_window, platform_server  # noqa: E402
from openiiot.sim.load import LoadSpec  # noqa: E402

MARK_START = "<!-- bench:alarms:start -->"
MARK_END = "<!-- bench:alarms:end -->"
TARGET_P99_MS = 1_000.0
TARGET_COST = 0.20
PROBED_ALARM = "Over-limit k00"  # the rule the latency probe violates
LONGEST_WINDOW_S = 600  # the deviation rule's window: the rules' state is at its largest once it is full
LONG_WARMUP_S = LONGEST_WINDOW_S + 30.0


def threshold(key: str, op: str, value: float) -> dict[str, Any]:
    return {"type": "threshold", "key": key, "op": op, "value": value}


def ten_rules() -> list[dict[str, Any]]:
    """Ten rules over the synthetic keys (values are uniform in 0..100, so only the probe violates)."""
    levels = [
        ("Over-limit k00", [("major", threshold("k00", ">", 150)), ("critical", threshold("k00", ">", 200))]),
        (
            "Held high k01",
            [("minor", {"type": "duration", "condition": threshold("k01", ">", 99.99), "duration_s": 60})],
        ),
        (
            "Out of band k02",
            [("major", {"type": "range", "key": "k02", "lo": -10, "hi": 110, "inside": False})],
        ),
        (
            "Frequent k03",
            [
                (
                    "warning",
                    {
                        "type": "count",
                        "condition": threshold("k03", ">", 99.99),
                        "count": 50,
                        "window_s": 600,
                    },
                )
            ],
        ),
        (
            "Fast rise k04",
            [
                (
                    "minor",
                    {"type": "rate", "key": "k04", "op": ">", "value": 10_000, "per": "s", "window_s": 60},
                )
            ],
        ),
        (
            "Drift k05",
            [
                (
                    "warning",
                    {"type": "deviation", "key": "k05", "window_s": 600, "min_samples": 30, "sigma": 12},
                )
            ],
        ),
        ("Silent k06", [("minor", {"type": "no_data", "key": "k06", "timeout_s": 600})]),
        (
            "Both high k07 k08",
            [
                (
                    "major",
                    {"type": "and", "children": [threshold("k07", ">", 99.9), threshold("k08", ">", 99.9)]},
                )
            ],
        ),
        (
            "Either k09 k07",
            [("major", {"type": "or", "children": [threshold("k09", ">", 120), threshold("k07", "<", -20)]})],
        ),
        ("Over-limit k08", [("critical", threshold("k08", ">", 500))]),
    ]
    return [
        {
            "id": "x",
            "name": name,
            "alarm_type": name,
            "levels": [{"severity": s, "condition": c} for s, c in lv],
        }
        for name, lv in levels
    ]


class AlarmProber(threading.Thread):
    """Publishes violating/normal values of `k00` from one device and times until the alarm is visible."""

    def __init__(
        self, api: PlatformApi, mqtt_port: int, device: tuple[str, str], window: tuple[float, float]
    ) -> None:
        super().__init__(name="bench-alarm-prober", daemon=True)
        self.api, self.window = api, window
        self.device_id, token = device
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{self.device_id}")
        self.client.username_pw_set(self.device_id, token)
        self.client.connect("127.0.0.1", mqtt_port)
        self.client.loop_start()
        self.latencies_ms: list[float] = []
        self.missed = 0

    def run(self) -> None:
        try:
            while time.time() < self.window[1] - 3:
                self._publish(250.0)  # critical
                sent = time.time()
                seen = self._wait(active=True, timeout_s=10)
                if seen is None:
                    self.missed += 1
                elif sent >= self.window[0]:
                    self.latencies_ms.append((seen - sent) * 1000)
                self._publish(50.0)
                self._wait(active=False, timeout_s=10)
                time.sleep(0.5)
        finally:
            self.client.loop_stop()
            self.client.disconnect()

    def _publish(self, value: float) -> None:
        payload = json.dumps({"k00": value})
        self.client.publish(f"v1/devices/{self.device_id}/telemetry", payload, qos=1).wait_for_publish(10)

    def _wait(self, *, active: bool, timeout_s: float) -> float | None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                r = self.api.http.get(
                    "/api/v1/alarms", params={"device_id": self.device_id, "active": "true"}
                )
                # only the probed rule's alarm: after 600 s the probe device, which sends k00 alone, also
                # raises "Silent k06" (no data), which must not count as the probe's alarm
                probed = (
                    [a for a in r.json()["items"] if a["alarm_type"] == PROBED_ALARM]
                    if r.status_code == 200
                    else None
                )
                if probed is not None and bool(probed) == active:
                    return time.time()
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return None


def run(args: argparse.Namespace, spec: LoadSpec, with_rules: bool) -> RunResult:
    password = secrets.token_urlsafe(16)
    result = RunResult("10 rules" if with_rules else "no rules")
    keys = [f"k{i:02d}" for i in range(spec.keys_per_msg)]
    with (
        tempfile.TemporaryDirectory(prefix="openiiot-bench-") as tmp,
        platform_server(Path(tmp), password) as (
            base_url,
            mqtt_port,
            pid,
        ),
    ):
        api = PlatformApi(base_url, password)
        try:
            creds = api.provision(args.devices + 1, keys)
            probe_device, fleet_creds = creds[0], creds[1:]
            if with_rules:
                profile = api.http.get("/api/v1/device-profiles").json()["items"][0]
                for rule in ten_rules():
                    r = api.http.post(
                        "/api/v1/alarm-rules",
                        json={"tenant_id": profile["tenant_id"], "profile_id": profile["id"], "rule": rule},
                    )
                    r.raise_for_status()
            start_at = time.time() + 3.0 + args.devices / 200.0
            window = (start_at + args.warmup, start_at + args.warmup + args.duration)
            fleet = PublisherFleet(
                "127.0.0.1", mqtt_port, fleet_creds, spec, args.publishers, start_at, window[1]
            )
            prober = None
            if with_rules:
                prober_api = PlatformApi.__new__(PlatformApi)
                prober_api.http = httpx.Client(
                    base_url=base_url, timeout=10.0, headers=dict(api.http.headers)
                )
                prober = AlarmProber(prober_api, mqtt_port, probe_device, window)
                time.sleep(max(0.0, start_at - time.time()))
                prober.start()
            busy = sample_cpu_at(
                window, {"openiiot serve": [pid], "broker": child_pids(pid), "publishers": fleet.pids}
            )
            counts = committed_in_window(api, window)
            results = fleet.results(timeout_s=window[1] - time.time() + 60.0)
            offered(results, spec, result.scenario, result)
            if prober is not None:
                prober.join(30)
                result.latencies_ms = prober.latencies_ms
                result.resolution_ms = 50.0
                if prober.missed:
                    result.notes.append(f"{prober.missed} violations not seen as alarms within 10 s")
        finally:
            api.close()
    result.delivered_pts_s = (counts[1] - counts[0]) / args.duration
    result.cpu_busy_pct = busy.result()
    result.process_cpu_pct = busy.per_process
    return result


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render(spec: LoadSpec, runs: list[RunResult], args: argparse.Namespace) -> str:
    machine = machine_info()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    base, ruled = runs
    cost = 1 - ruled.delivered_pts_s / base.delivered_pts_s if base.delivered_pts_s else None
    serve_cost = None
    b_cpu, r_cpu = base.process_cpu_pct.get("openiiot serve"), ruled.process_cpu_pct.get("openiiot serve")
    if b_cpu and r_cpu:
        serve_cost = r_cpu / b_cpu - 1
    lines = [
        f"Measured {when} on {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, "
        f"Python {machine['python']}; load average {args.load_at_start} at the start, "
        f"{_load()} at the end (the machine is shared).",
        "",
        f"{args.devices} devices at {spec.keys_per_msg} keys x {spec.entries_per_msg} entries @ "
        f"{spec.rate_hz:g} msg/s each, QoS 1, {args.warmup:g} s warm-up + {args.duration:g} s measured"
        + (
            f" (steady state: the {LONGEST_WINDOW_S} s deviation window is full)"
            if args.warmup >= LONGEST_WINDOW_S
            else f" (the {LONGEST_WINDOW_S} s deviation window still filling; `--long` for steady state)"
        )
        + "; the "
        "10 rules cover threshold (2 levels), duration, range, count in window, rate of change, deviation, "
        "no data, AND and OR. Latency: one extra device alternates a critical and a normal value; a sample "
        "is publish -> alarm visible in `GET /api/v1/alarms` (polled every 50 ms, so up to 50 ms late).",
        "",
        "| run | offered points/s | committed points/s | alarm p50 ms | alarm p99 ms | samples | machine CPU "
        "| CPU % of one core: serve / broker / publishers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        procs = " / ".join(f"{v:.0f}" for v in r.process_cpu_pct.values()) or "-"
        lines.append(
            f"| {r.scenario} | {r.offered_pts_s:,.0f} | {r.delivered_pts_s:,.0f} "
            f"| {_ms(r.percentile_ms(50))} | {_ms(r.percentile_ms(99))} | {len(r.latencies_ms)} "
            f"| {r.cpu_busy_pct:.0f} % | {procs} |"
        )
    p99 = ruled.percentile_ms(99)
    lines += [
        "",
        f"Targets: p99 <= {TARGET_P99_MS:,.0f} ms — "
        f"{'met' if p99 is not None and p99 <= TARGET_P99_MS else 'missed'} ({_ms(p99)} ms); throughput cost "
        f"<= {TARGET_COST:.0%} — "
        + (
            "-"
            if cost is None
            else f"{'met' if cost <= TARGET_COST else 'missed'} ({cost:.1%} fewer points/s)"
        )
        + ("" if serve_cost is None else f"; `openiiot serve` used {serve_cost:+.0%} CPU with the rules"),
    ]
    notes = [n for r in runs for n in r.notes]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    lines += ["", f"Command: `python benchmarks/alarms.py {' '.join(sys.argv[1:])}`".replace("  ", " ")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", type=parse_shape, default=parse_shape("10x10@2.5"))
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument(
        "--long",
        action="store_true",
        help=f"steady state: warm up {LONG_WARMUP_S:g} s (at least), so the {LONGEST_WINDOW_S} s deviation "
        "window is full before measuring (about 25 minutes for both runs)",
    )
    p.add_argument("--publishers", type=int, default=2)
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="'-' = do not write")
    args = p.parse_args(argv)
    if args.long:
        args.warmup = max(args.warmup, LONG_WARMUP_S)
    args.load_at_start = _load()
    runs = []
    for with_rules in (False, True):
        print(f"{'10 rules' if with_rules else 'no rules'}: {args.devices} devices ...", flush=True)
        runs.append(run(args, args.shape, with_rules))
    section = render(args.shape, runs, args)
    print()
    print(section)
    if str(args.output) != "-":
        text = args.output.read_text(encoding="utf-8") if args.output.exists() else "# Benchmarks\n"
        if MARK_START not in text:
            text = (
                text.rstrip() + f"\n\n## Alarms: latency and the cost of rules\n\n{MARK_START}\n{MARK_END}\n"
            )
            args.output.write_text(text, encoding="utf-8")
        write_marked(args.output, section)
        print(f"\nwritten to {args.output}")
    return 0


def write_marked(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(MARK_START, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_START}\n{section}\n{MARK_END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
