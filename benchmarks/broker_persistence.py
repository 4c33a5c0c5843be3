"""What Mosquitto's persistence settings cost the broker: process CPU time per message.

A private Mosquitto (persistence on) holds N idle persistent device sessions, each subscribed to its command
topic as devices are, and one ingest-like subscriber with a persistent session on the telemetry topics. A
QoS 1 publisher sends M messages at a fixed rate; the broker's CPU time over the run, divided by M, is the
figure. With `--away` the subscriber disconnects before publishing starts, so everything queues in its
session (the deep-backlog case: each save then writes the backlog). Settings compared (docs/deploy-broker.md,
"Broker crashes"):

- default: Mosquitto saves only at shutdown and every `autosave_interval` (1800 s);
- `autosave_interval 1`: a save every second;
- `autosave_on_changes true` + `autosave_interval 1`: a save after every change.

    python benchmarks/broker_persistence.py --sessions 100,2000 --messages 5000 --rate 1000
    python benchmarks/broker_persistence.py --sessions 100 --messages 60000 --rate 3000 --away
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SETTINGS = {
    "default": "",
    "autosave_interval 1": "autosave_interval 1",
    "save on every change": "autosave_on_changes true\nautosave_interval 1",
}
PAYLOAD = b'{"ts":1,"values":{"k":1.5}}'


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_broker(workdir: Path, setting: str) -> tuple[subprocess.Popen[bytes], int]:
    """A private Mosquitto with persistence in `workdir`, on a free port."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise SystemExit("needs the mosquitto binary (apt-get install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {workdir}/",
        "max_queued_messages 1000000",
        setting,
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker, port
        except OSError:
            time.sleep(0.05)
    broker.kill()
    raise SystemExit("mosquitto did not start")


def client(client_id: str) -> mqtt.Client:
    """A paho client with a persistent session."""
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)


def run(setting_name: str, sessions: int, messages: int, rate: float, away: bool) -> dict[str, float]:
    """One measurement; returns broker CPU µs per message, messages received and the save file's size."""
    with tempfile.TemporaryDirectory(prefix="bench-persist-") as tmp:
        workdir = Path(tmp)
        broker, port = start_broker(workdir, SETTINGS[setting_name])
        try:
            for i in range(sessions):  # idle persistent device sessions
                device = client(f"dev{i}")
                device.connect("127.0.0.1", port)
                device.subscribe(f"v1/devices/dev{i}/rpc/request/+", qos=1)
                device.loop(0.05)
                device.loop(0.05)
                device.disconnect()
            received = [0]
            worker = client("worker")
            worker.on_message = lambda *_: received.__setitem__(0, received[0] + 1)
            worker.connect("127.0.0.1", port)
            worker.subscribe("v1/devices/+/telemetry", qos=1)
            worker.loop_start()
            time.sleep(0.5)
            if away:  # everything from now on queues in the worker's session
                worker.disconnect()
                time.sleep(0.2)
                worker.loop_stop()
            publisher = client("publisher")
            publisher.max_inflight_messages_set(100)
            publisher.connect("127.0.0.1", port)
            publisher.loop_start()
            time.sleep(1.0)
            cpu0, t0 = cpu_seconds(broker.pid), time.monotonic()
            infos = []
            for n in range(messages):
                topic = f"v1/devices/dev{n % max(sessions, 1)}/telemetry"
                infos.append(publisher.publish(topic, PAYLOAD, qos=1))
                wait = t0 + (n + 1) / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            sent_s = time.monotonic() - t0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(info.is_published() for info in infos[-100:]):
                time.sleep(0.05)
            if not away:
                while received[0] < messages and time.monotonic() < deadline:
                    time.sleep(0.05)
            cpu1 = cpu_seconds(broker.pid)
            publisher.loop_stop()
            if not away:
                worker.loop_stop()
            saved = workdir / "mosquitto.db"
            return {
                "us_per_msg": 1e6 * (cpu1 - cpu0) / messages,
                "received": messages if away else received[0],
                "rate": messages / sent_s,
                "file_bytes": saved.stat().st_size if saved.exists() else 0,
            }
        finally:
            broker.kill()
            broker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", default="100,2000", help="comma-separated idle device session counts")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered messages/s")
    parser.add_argument("--away", action="store_true", help="the subscriber is away: messages queue")
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS), help="default: all")
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.messages} QoS 1 messages at {args.rate:g}/s"
        f"{'; subscriber away (messages queue)' if args.away else ''}"
    )
    print("| setting | sessions | broker CPU per message | sent messages/s | received | save file |")
    print("|---|---:|---:|---:|---:|---:|")
    for sessions in (int(s) for s in args.sessions.split(",")):
        for name in args.setting or list(SETTINGS):
            r = run(name, sessions, args.messages, args.rate, args.away)
            cells = [
                name,
                f"{sessions:,}",
                f"{r['us_per_msg']:.0f} µs",
                f"{r['rate']:,.0f}",
                f"{r['received']:,.0f}",
                f"{r['file_bytes'] / 1e6:.1f} MB",
            ]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
