"""Pieces the ingest benchmarks share: publisher processes, results, machine facts, CPU sampling."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from openiiot.sim.load import LoadResult, LoadSpec, run_publisher


@dataclass
class RunResult:
    """One scenario's figures."""

    scenario: str
    offered_msg_s: float = 0.0
    offered_pts_s: float = 0.0
    delivered_pts_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_busy_pct: float = 0.0
    process_cpu_pct: dict[str, float] = field(default_factory=dict)  # name -> % of one core
    drain_s: float | None = None  # last publish -> everything delivered/committed (None: never)
    resolution_ms: float | None = None  # latency samples are late by up to this much
    notes: list[str] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank percentile of the latency samples."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered)) - 1))]


def machine_info() -> dict[str, str]:
    """CPU model, cores, RAM and Python of this machine."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, for utilisation over an interval."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class PublisherFleet:
    """Publisher processes (spawn), each running a share of the devices with its own connections."""

    def __init__(
        self,
        host: str,
        port: int,
        creds: list[tuple[str, str]],
        spec: LoadSpec,
        processes: int,
        start_at: float,
        stop_at: float,
        generator: str = "paho",
    ) -> None:
        # "paho": openiiot.sim.load (paho clients); "async": benchmarks/mqtt_load.py (pre-encoded packets)
        if generator == "async":
            from mqtt_load import run_async_publisher

            target = run_async_publisher
        elif generator == "paho":
            target = run_publisher
        else:
            raise ValueError(f"unknown load generator {generator!r}")
        ctx = multiprocessing.get_context("spawn")
        self._procs: list[tuple[multiprocessing.process.BaseProcess, object]] = []
        n = max(1, min(processes, len(creds)))
        for i in range(n):
            receiver, sender = ctx.Pipe(duplex=False)
            phase = (i / n) / spec.rate_hz if spec.rate_hz > 0 else 0.0  # spread the bursts
            args = (host, port, creds[i::n], spec, start_at, stop_at, sender, phase)
            proc = ctx.Process(target=target, args=args, name=f"bench-publisher-{i}", daemon=True)
            proc.start()
            sender.close()
            self._procs.append((proc, receiver))

    @property
    def pids(self) -> list[int]:
        """Process ids of the publisher processes."""
        return [proc.pid for proc, _ in self._procs if proc.pid is not None]

    def results(self, timeout_s: float) -> list[LoadResult]:
        """Wait for every process's report; stop the processes that do not answer in time."""
        deadline = time.monotonic() + timeout_s
        out: list[LoadResult] = []
        for proc, receiver in self._procs:
            with contextlib.suppress(EOFError, OSError):
                if receiver.poll(max(0.0, deadline - time.monotonic())):  # type: ignore[attr-defined]
                    out.append(receiver.recv())  # type: ignore[attr-defined]
            receiver.close()  # type: ignore[attr-defined]
            proc.join(max(0.1, deadline - time.monotonic()))
        self.stop()
        return out

    def stop(self) -> None:
        """Terminate whatever still runs."""
        for proc, _ in self._procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def wait_port(port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll until something accepts TCP connections on 127.0.0.1:port; give up early once `alive` is false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"nothing listens on 127.0.0.1:{port} (waited up to {timeout_s} s or the server exited)"
    )


def offered(results: list[LoadResult], spec: LoadSpec, label: str, run: RunResult) -> int:
    """Fill the offered load from the publishers' reports; return the points they published."""
    published = sum(r.published for r in results)
    span = max((r.last_publish_s for r in results), default=0) - min(
        (r.first_publish_s for r in results), default=0
    )
    run.offered_msg_s = published / span if span > 0 else 0.0
    run.offered_pts_s = run.offered_msg_s * spec.points_per_msg
    connected = sum(r.connected for r in results)
    devices = sum(r.devices for r in results)
    if connected < devices:
        run.notes.append(f"{label}: only {connected}/{devices} devices connected")
    dropped = sum(r.dropped for r in results)
    if dropped:
        run.notes.append(f"{label}: {dropped} messages not sent (device disconnected)")
    return published * spec.points_per_msg


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuSample:
    def __init__(self) -> None:
        self.value = 0.0
        self.per_process: dict[str, float] = {}
        self.done = threading.Event()

    def result(self) -> float:
        self.done.wait(5)
        return self.value


def sample_cpu_at(window: tuple[float, float], processes: dict[str, list[int]] | None = None) -> _CpuSample:
    """Machine-wide CPU utilisation (%) over the window, and that of named process groups (% of one core)."""
    sample = _CpuSample()
    procs = dict(processes or {})

    def measure() -> None:
        time.sleep(max(0.0, window[0] - time.time()))
        b0, t0 = cpu_times()
        p0 = {name: sum(map(process_cpu_s, pids)) for name, pids in procs.items()}
        w0 = time.monotonic()
        time.sleep(max(0.0, window[1] - time.time()))
        b1, t1 = cpu_times()
        elapsed_s = time.monotonic() - w0
        sample.per_process = {
            name: 100.0 * (sum(map(process_cpu_s, pids)) - p0[name]) / elapsed_s
            for name, pids in procs.items()
        }
        sample.value = 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
        sample.done.set()

    threading.Thread(target=measure, daemon=True).start()
    return sample
