"""Run simulated devices against a real MQTT broker, each device with its own credentials."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from openiiot.domain.errors import ConfigurationError, ValidationFailed
from openiiot.sim.fleet import ModelGroup, SimulatedDevice, build_groups
from openiiot.sim.mqtt_pool import MqttClientPool
from openiiot.sim.reducer import Fault
from openiiot.sim.robot import JointSpec
from openiiot.sim.station import StationSpec

__all__ = ["SimRunner", "SimStats", "SimulatedDevice", "telemetry_payload", "telemetry_topic"]

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 30.0
_FAST_FORWARD_BACKLOG_PER_CLIENT = 20  # bounds memory when not pacing by the wall clock


def telemetry_topic(device_id: str) -> str:
    """The device API topic a device publishes its telemetry on."""
    return f"v1/devices/{device_id}/telemetry"


def telemetry_payload(ts_ms: int, values: Mapping[str, float | str]) -> bytes:
    """ThingsBoard JSON telemetry with an explicit timestamp."""
    return orjson.dumps({"ts": ts_ms, "values": values})


@dataclass(frozen=True, slots=True)
class SimStats:
    """Totals over every shard of a runner."""

    devices: int
    connected: int
    ticks: int
    published: int
    acked: int
    dropped: int


class _Shard:
    """Model groups and their devices' connections, served by one thread."""

    def __init__(self, runner: SimRunner, groups: list[ModelGroup]) -> None:
        self.runner = runner
        self.groups = groups
        self.pool = MqttClientPool(runner.host, runner.port, on_request=self._answer)
        for group in groups:
            for device in group.devices:
                self.pool.add(device.device_id, device.token)
        self.ticks = 0
        self.connected_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"sim-shard-{id(self):x}", daemon=True)

    def _answer(self, device_id: str, rpc_id: str, request: bytes) -> bytes:
        """Apply a command to the simulated machine behind `device_id`; its answer or error as JSON."""
        try:
            body = json.loads(request)
            method, params = str(body["method"]), dict(body.get("params") or {})
        except (ValueError, KeyError, TypeError):
            return json.dumps({"error": "the request is not {method, params} JSON"}).encode()
        for group in self.groups:
            if any(d.device_id == device_id for d in group.devices):
                command = getattr(group, "command", None)
                if command is None:
                    return json.dumps({"error": f"this device accepts no commands ({method})"}).encode()
                try:
                    result = command(device_id, method, params)
                except ValidationFailed as exc:
                    return json.dumps({"error": str(exc)}).encode()
                log.info("simulator applied a command", extra={"device_id": device_id, "method": method})
                return json.dumps({"result": result}).encode()
        return json.dumps({"error": "unknown device"}).encode()

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # reported to the caller through stop()/wait()
            self.error = exc
            log.exception("simulator shard failed")
        finally:
            self.connected_event.set()
            self.pool.close()

    def _serve(self) -> None:
        runner = self.runner
        connected = self.pool.connect_all(runner.connect_timeout_s)
        if connected < len(self.pool):
            log.warning(
                "some devices did not connect", extra={"connected": connected, "total": len(self.pool)}
            )
        self.connected_event.set()
        dt_s = 1.0 / runner.rate_hz
        t_next = time.monotonic()
        while not runner.stop_event.is_set() and (runner.max_ticks is None or self.ticks < runner.max_ticks):
            self._tick(dt_s)
            if runner.realtime:
                t_next += dt_s
                while (remaining := t_next - time.monotonic()) > 0 and not runner.stop_event.is_set():
                    self.pool.pump(min(remaining, 0.2))
            else:
                self.pool.pump(0.0)
                backlog = _FAST_FORWARD_BACKLOG_PER_CLIENT * len(self.pool)
                while self.pool.outstanding > backlog and not runner.stop_event.is_set():
                    self.pool.pump(0.05)
        self.pool.drain(timeout_s=5.0)

    def _tick(self, dt_s: float) -> None:
        if self.ticks > 0:
            for group in self.groups:
                group.advance(dt_s)
        ts_ms = self.runner.start_ts_ms + round(self.ticks * 1000.0 * dt_s)
        for group in self.groups:
            for device, values in group.readings():
                payload = telemetry_payload(ts_ms, values)
                self.pool.publish(device.device_id, telemetry_topic(device.device_id), payload)
        self.ticks += 1


class SimRunner:
    """Publishes simulated telemetry for many devices from a few threads (one per ~250 connections).

    Ticks are `1/rate_hz` of simulated time apart; timestamps are `start_ts_ms + tick/rate_hz`.
    With `realtime=False` ticks follow each other as fast as the broker acknowledges (tests, backfill).
    """

    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        host: str,
        port: int,
        rate_hz: float = 1.0,
        seed: int = 0,
        *,
        realtime: bool = True,
        start_ts_ms: int | None = None,
        max_ticks: int | None = None,
        clients_per_thread: int = 250,
        station_spec: StationSpec | None = None,
        joint_spec: JointSpec | None = None,
        groups: Sequence[ModelGroup] | None = None,
        faults: Mapping[str, Sequence[Fault]] | None = None,
        wave_every_s: float = 600.0,
    ) -> None:
        if not devices:
            raise ValidationFailed("no devices to simulate", field="devices")
        if not 0.0 < rate_hz <= 100.0 or not math.isfinite(rate_hz):
            raise ValidationFailed("rate_hz must be in (0, 100]", field="rate_hz")
        self.host = host
        self.port = port
        self.rate_hz = rate_hz
        self.realtime = realtime
        self.max_ticks = max_ticks
        self.start_ts_ms = start_ts_ms if start_ts_ms is not None else int(time.time() * 1000)
        self.stop_event = threading.Event()
        self.connect_timeout_s = _CONNECT_TIMEOUT_S
        # model groups built by the caller (e.g. an energy station) or from the device list
        built = (
            list(groups)
            if groups is not None
            else build_groups(
                list(devices),
                seed,
                self.start_ts_ms,
                station_spec,
                joint_spec,
                faults=faults,
                wave_every_s=wave_every_s,
            )
        )
        self._shards = [_Shard(self, part) for part in _split(built, clients_per_thread)]
        self._started = False

    @property
    def stats(self) -> SimStats:
        """Totals so far (approximate while running)."""
        pools = [s.pool for s in self._shards]
        return SimStats(
            devices=sum(len(p) for p in pools),
            connected=sum(p.stats.connected for p in pools),
            ticks=min(s.ticks for s in self._shards),
            published=sum(p.stats.published for p in pools),
            acked=sum(p.stats.acked for p in pools),
            dropped=sum(p.stats.dropped for p in pools),
        )

    def start(self, connect_timeout_s: float = _CONNECT_TIMEOUT_S) -> None:
        """Start the shard threads and wait until their devices have tried to connect."""
        if self._started:
            raise ValidationFailed("the runner has already been started", field="runner")
        self._started = True
        self.connect_timeout_s = connect_timeout_s
        for shard in self._shards:
            shard.thread.start()
        deadline = time.monotonic() + connect_timeout_s + 5.0
        for shard in self._shards:
            shard.connected_event.wait(max(0.0, deadline - time.monotonic()))
        if self.stats.connected == 0:
            self.stop()
            raise ConfigurationError(f"no simulated device could connect to MQTT {self.host}:{self.port}")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the shards to finish (`max_ticks` reached or stopped); True when they did."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for shard in self._shards:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            shard.thread.join(remaining)
        self._raise_shard_error()
        return not any(s.thread.is_alive() for s in self._shards)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop publishing, wait for outstanding acknowledgements briefly and disconnect."""
        self.stop_event.set()
        self.wait(timeout_s)

    def _raise_shard_error(self) -> None:
        for shard in self._shards:
            if shard.error is not None:
                raise ConfigurationError(f"simulator thread failed: {shard.error}") from shard.error


def _split(groups: list[ModelGroup], per_thread: int) -> list[list[ModelGroup]]:
    """Balance groups over ceil(devices/per_thread) shards; a group never spans two shards."""
    n_devices = sum(len(g.devices) for g in groups)
    n_shards = max(1, min(len(groups), math.ceil(n_devices / max(1, per_thread))))
    shards: list[list[ModelGroup]] = [[] for _ in range(n_shards)]
    loads = [0] * n_shards
    for group in sorted(groups, key=lambda g: -len(g.devices)):
        i = loads.index(min(loads))
        shards[i].append(group)
        loads[i] += len(group.devices)
    return shards
