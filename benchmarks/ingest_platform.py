"""The platform half of the ingest benchmark: `openiiot serve` as a subprocess, provisioned over REST."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench_harness import PublisherFleet, RunResult, offered, sample_cpu_at, wait_port
from openiiot.sim.load import LoadSpec
from openiiot.sim.mqtt_pool import free_tcp_port

METRIC = "openiiot_ingest_points_total"


@contextlib.contextmanager
def platform_server(workdir: Path, admin_password: str) -> Iterator[tuple[str, int, int]]:
    """Run `python -m openiiot.cli.app serve` on free ports; yield (base URL, MQTT port, pid); stop it."""
    http_port, mqtt_port = free_tcp_port(), free_tcp_port()
    env = {
        **os.environ,
        "OPENIIOT_DATA_DIR": str(workdir / "data"),
        "OPENIIOT_HTTP_PORT": str(http_port),
        "OPENIIOT_MQTT_PORT": str(mqtt_port),
        "OPENIIOT_ADMIN_PASSWORD": admin_password,
        "OPENIIOT_LOG_LEVEL": "WARNING",
        # importable from a checkout too (`make bench` installs the package anyway)
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openiiot.cli.app", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            try:
                wait_port(http_port, 90.0, alive=lambda: proc.poll() is None)
                wait_port(mqtt_port, 30.0, alive=lambda: proc.poll() is None)
            except RuntimeError as exc:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"openiiot serve did not come up: {exc}\n{tail}") from exc
            yield f"http://127.0.0.1:{http_port}", mqtt_port, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class PlatformApi:
    """The few REST calls the benchmark needs, as the platform admin."""

    def __init__(self, base_url: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        r = self.http.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def provision(self, n_devices: int, keys: list[str]) -> list[tuple[str, str]]:
        """A tenant, a profile with the keys and `n_devices` devices; return (device id, token) pairs."""
        tenant = self._post("/api/v1/tenants", {"name": f"bench-{secrets.token_hex(3)}", "timezone": "UTC"})
        self._post(
            "/api/v1/device-profiles",
            {
                "tenant_id": tenant["id"],
                "name": "bench-profile",
                "keys": [{"key": k, "unit": "", "kind": "measurement"} for k in keys],
                "strict": False,
            },
        )
        rows = "\n".join(f"bench-{i:05d},bench-profile" for i in range(n_devices))
        r = self.http.post(
            "/api/v1/devices/bulk",
            files={"file": ("devices.csv", f"name,profile\n{rows}\n", "text/csv")},
            params={"tenant_id": str(tenant["id"])},
            timeout=300.0,
        )
        r.raise_for_status()
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(f"bulk provisioning failed for some rows: {body['errors'][:5]}")
        return [(d["device_id"], d["access_token"]) for d in body["created"]]

    def _post(self, path: str, payload: dict[str, object]) -> dict[str, object]:
        r = self.http.post(path, json=payload)
        r.raise_for_status()
        result: dict[str, object] = r.json()
        return result

    def points_total(self) -> float:
        """Sum of the ingest points counter over its label sets."""
        total = 0.0
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith(METRIC):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def latest_ts(self, device_id: str, key: str) -> int | None:
        """Timestamp of the newest stored value of one key."""
        r = self.http.get(f"/api/v1/devices/{device_id}/telemetry/latest", params={"keys": key})
        if r.status_code != 200:
            return None
        entry = r.json().get("values", {}).get(key)
        return int(entry["ts"]) if entry else None

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()


class LatencyProber(threading.Thread):
    """Polls telemetry/latest of a few devices round-robin at a fixed pace; a new `ts` gives one sample.

    A sample is `response received - ts`: an upper bound of publish-to-queryable, too high by at most the
    time since the previous poll of that device (the revisit interval, kept as the resolution).
    """

    def __init__(
        self,
        api: PlatformApi,
        devices: list[str],
        key: str,
        window: tuple[float, float],
        interval_s: float,
    ) -> None:
        super().__init__(name="bench-latency-prober", daemon=True)
        self.api, self.devices, self.key, self.window = api, devices, key, window
        self.interval_s = interval_s
        self.latencies_ms: list[float] = []
        self.revisit_s: list[float] = []  # time between two polls of the same device: the resolution
        self.errors = 0

    def run(self) -> None:
        """Poll until the end of the window."""
        seen: dict[str, int] = {}
        last_poll: dict[str, float] = {}
        t_next = time.time()
        while time.time() < self.window[1]:
            for device in self.devices:
                t_next += self.interval_s
                time.sleep(max(0.0, t_next - time.time()))
                try:
                    ts = self.api.latest_ts(device, self.key)
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                now = time.time()
                if now >= self.window[0]:
                    if device in last_poll:
                        self.revisit_s.append(now - last_poll[device])
                    if ts is not None and device in seen and ts > seen[device]:
                        self.latencies_ms.append(now * 1000.0 - ts)
                last_poll[device] = now
                if ts is not None:
                    seen[device] = ts


def child_pids(pid: int) -> list[int]:
    """Direct child processes of `pid` (the embedded broker of `openiiot serve`)."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def run_platform(args: argparse.Namespace, spec: LoadSpec) -> RunResult:
    """Publish into `openiiot serve` and measure committed points/s and publish-to-queryable latency."""
    password = secrets.token_urlsafe(16)
    run = RunResult("platform")
    keys = [f"k{i:02d}" for i in range(spec.keys_per_msg)]
    with (
        tempfile.TemporaryDirectory(prefix="openiiot-bench-") as tmp,
        platform_server(Path(tmp), password) as (base_url, mqtt_port, pid),
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
            interval_s = 1.0 / args.probe_hz
            prober = LatencyProber(api_clone(base_url, api), probe, keys[0], window, interval_s)
            prober.start()
            processes = {"openiiot serve": [pid], "broker": child_pids(pid), "publishers": fleet.pids}
            busy = sample_cpu_at(window, processes)
            counts = committed_in_window(api, window)
            results = fleet.results(timeout_s=window[1] - time.time() + 60.0)
            published_pts = offered(results, spec, "platform", run)
            prober.join(10)
            prober.api.close()
            last_publish_s = max((r.last_publish_s for r in results), default=time.time())
            total, reached_s = wait_for_drain(api, published_pts, timeout_s=60.0)
        finally:
            api.close()
    run.delivered_pts_s = (counts[1] - counts[0]) / args.duration
    run.latencies_ms = prober.latencies_ms
    run.cpu_busy_pct = busy.result()
    run.process_cpu_pct = busy.per_process
    run.drain_s = None if reached_s is None else max(0.0, reached_s - last_publish_s)
    if prober.revisit_s:
        run.resolution_ms = 1000.0 * sum(prober.revisit_s) / len(prober.revisit_s)
    if prober.errors:
        run.notes.append(f"platform: {prober.errors} latency polls failed")
    if total < published_pts:
        run.notes.append(f"platform: only {total:,.0f} of {published_pts:,} published points committed")
    return run


def api_clone(base_url: str, api: PlatformApi) -> PlatformApi:
    """A second client with the same token, so the prober never waits on the main thread's requests."""
    clone = PlatformApi.__new__(PlatformApi)
    clone.http = httpx.Client(base_url=base_url, timeout=10.0, headers=dict(api.http.headers))
    return clone


def committed_in_window(api: PlatformApi, window: tuple[float, float]) -> tuple[float, float]:
    """The points counter read at the start and at the end of the measurement window."""
    time.sleep(max(0.0, window[0] - time.time()))
    first = api.points_total()
    time.sleep(max(0.0, window[1] - time.time()))
    return first, api.points_total()


def wait_for_drain(api: PlatformApi, expected: int, timeout_s: float) -> tuple[float, float | None]:
    """Poll the counter until it reaches `expected` or stops moving; return it and when it got there."""
    deadline = time.monotonic() + timeout_s
    total, still_for = api.points_total(), 0
    while total < expected and time.monotonic() < deadline and still_for < 40:
        time.sleep(0.1)
        now = api.points_total()
        still_for = still_for + 1 if now == total else 0
        total = now
    return total, (time.time() if total >= expected else None)
