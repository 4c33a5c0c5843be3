"""The raw limit of the embedded amqtt broker: N device clients publish QoS 1 JSON, a bare subscriber decodes.

    PYTHONPATH=src python benchmarks/mqtt_raw.py --clients 100 --shape flat --duration-s 20

Publishers run in `--processes` processes (one selector-driven MqttClientPool each), each device logging in
with its own token through the broker's real authentication and ACL plugins. The subscriber is the service
user on `v1/devices/+/telemetry` at QoS 1, as the ingest consumer is, and only decodes JSON (orjson) and
counts points. Throughput is measured at the subscriber over the publishing window.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import threading
import time
from multiprocessing.synchronize import Event as EventType
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench_credentials import derive_token
from openiiot.connectivity.mqtt.broker import BrokerRunConfig, EmbeddedBroker
from openiiot.connectivity.mqtt.topics import BROKER_STATS_TOPIC
from openiiot.domain.credentials import hash_token
from openiiot.sim.mqtt_pool import MqttClientPool, free_tcp_port

SERVICE_USER = "openiiot-platform"
KEYS = [f"k{i}" for i in range(10)]


def payload(shape: str, seq: int, ts_ms: int) -> bytes:
    """10 points (`flat`) or 10 timestamped entries x 10 keys = 100 points (`ts-list`)."""
    values = {key: 20.0 + (seq % 97) * 0.01 + i for i, key in enumerate(KEYS)}
    if shape == "flat":
        return orjson.dumps(values)
    return orjson.dumps([{"ts": ts_ms - 100 * (9 - j), "values": values} for j in range(10)])


def publisher_process(
    port: int,
    secret: str,
    device_ids: list[str],
    shape: str,
    duration_s: float,
    window: int,
    go: EventType,
    done: EventType,
    out: Any,
) -> None:
    """Connect the devices, wait for `go`, publish as fast as each device's in-flight window allows.

    The clients stay connected until `done`: amqtt PUBACKs a message when it enters the sender's session
    queue, before routing it, and drops what is still queued there when the sender disconnects.
    """
    pool = MqttClientPool("127.0.0.1", port, max_inflight=window)
    for device_id in device_ids:
        pool.add(device_id, derive_token(secret, device_id))
    connected = pool.connect_all(30.0)
    out.put(("connected", connected))
    go.wait(60)
    topics = {d: f"v1/devices/{d}/telemetry" for d in device_ids}
    cap = window * len(device_ids)
    seq = 0
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        if pool.outstanding < cap:
            ts_ms = int(time.time() * 1000)
            for device_id in device_ids:
                pool.publish(device_id, topics[device_id], payload(shape, seq, ts_ms))
            seq += 1
        pool.pump(0 if pool.outstanding < cap else 0.005)
    pool.drain(10.0)
    out.put(("published", pool.stats.published, pool.stats.acked))
    while not done.wait(0.05):
        pool.pump(0)  # keep the connections alive while the broker works through its backlog
    pool.close()


class Subscriber:
    """Counts messages and points on `v1/devices/+/telemetry` (QoS 1), decoding each payload."""

    def __init__(self, port: int, password: str) -> None:
        self.messages = 0
        self.points = 0
        self.errors = 0
        self.first_s = 0.0
        self.last_s = 0.0
        self.ready = threading.Event()
        self.broker_stats: dict[str, Any] = {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="openiiot-bench-sub", clean_session=True
        )
        self.client.username_pw_set(SERVICE_USER, password)
        self.client.on_connect = lambda c, *_: c.subscribe(
            [("v1/devices/+/telemetry", 1), (BROKER_STATS_TOPIC, 0)]
        )
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == BROKER_STATS_TOPIC:
            self.broker_stats = orjson.loads(msg.payload)
            return
        now_s = time.perf_counter()
        if not self.messages:
            self.first_s = now_s
        self.last_s = now_s
        self.messages += 1
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            self.errors += 1
            return
        if isinstance(body, list):
            self.points += sum(len(entry.get("values", {})) for entry in body)
        else:
            self.points += len(body)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement; returns the figures."""
    secret = secrets.token_hex(16)
    password = secrets.token_urlsafe(24)
    port = free_tcp_port()
    broker = EmbeddedBroker(
        BrokerRunConfig(
            host="127.0.0.1",
            port=port,
            max_payload_bytes=65536,
            service_username=SERVICE_USER,
            service_password_hash=hash_token(password),
            credentials_factory="bench_credentials:derived_credentials",
            credentials_arg=secret,
        )
    )
    broker.start()
    ctx = multiprocessing.get_context("spawn")
    go, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    devices = [f"bench-{i:05d}" for i in range(args.clients)]
    procs = [
        ctx.Process(
            target=publisher_process,
            args=(
                port,
                secret,
                devices[i :: args.processes],
                args.shape,
                args.duration_s,
                args.window,
                go,
                done,
                out,
            ),
        )
        for i in range(args.processes)
    ]
    subscriber = Subscriber(port, password)
    try:
        subscriber.ready.wait(10)
        for proc in procs:
            proc.start()
        connected = sum(out.get(timeout=60)[1] for _ in procs)
        go.set()
        started_s = time.perf_counter()
        results = [out.get(timeout=args.duration_s + 60) for _ in procs]
        published = sum(r[1] for r in results)
        acked = sum(r[2] for r in results)
        deadline = time.monotonic() + args.drain_s
        while subscriber.messages < acked and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        for proc in procs:
            proc.join(10)
    finally:
        subscriber.close()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        broker.stop()
    span_s = max(subscriber.last_s - started_s, 1e-9)
    return {
        "clients": args.clients,
        "connected": connected,
        "shape": args.shape,
        "published": published,
        "acked": acked,
        "received": subscriber.messages,
        "decode_errors": subscriber.errors,
        "seconds": round(span_s, 2),
        "messages_per_s": round(subscriber.messages / span_s),
        "points_per_s": round(subscriber.points / span_s),
        "broker_events": subscriber.broker_stats.get("events", {}),
    }


def main() -> None:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--shape", choices=["flat", "ts-list"], default="flat")
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--drain-s", type=float, default=120.0, help="how long to wait for the backlog")
    parser.add_argument("--window", type=int, default=10, help="in-flight QoS 1 messages per device")
    figures = run(parser.parse_args())
    print("  ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
