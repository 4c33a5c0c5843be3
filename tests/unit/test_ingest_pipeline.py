"""The ingest pipeline over the in-memory fakes: one commit per batch, counted rejects, backpressure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from tests.polling import wait_for

from openiiot.domain.errors import Overloaded
from openiiot.domain.model import AttributeScope, Device, DeviceProfile, KeyKind, TelemetryKeySpec, Tenant
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome, IngestPipeline
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.memory.telemetry import MemoryTelemetryStore

NOW_MS = 1_700_000_000_000
DEADLINE_S = 10.0


@dataclass
class FakeClock:
    now: int = NOW_MS

    def now_ms(self) -> int:
        return self.now


class FlakyStore(MemoryTelemetryStore):
    """Fails every append while `failing` is set; counts calls."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = threading.Event()
        self.calls = 0
        self.failures = 0

    def append(self, batch: TelemetryBatch) -> int:
        self.calls += 1
        if self.failing.is_set():
            self.failures += 1
            raise OSError("disk unavailable")
        return super().append(batch)


@dataclass
class Outcomes:
    """Collects on_done outcomes by message tag."""

    got: dict[str, IngestOutcome] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def callback(self, tag: str) -> Callable[[IngestOutcome], None]:
        def on_done(outcome: IngestOutcome) -> None:
            with self.lock:
                self.got[tag] = outcome

        return on_done


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    strict = DeviceProfile(
        id="p-strict",
        tenant_id="t1",
        name="compressor",
        strict=True,
        keys=(
            TelemetryKeySpec("pressure_bar", min_value=0, max_value=16),
            TelemetryKeySpec("fault", kind=KeyKind.TEXT),
        ),
    )
    with factory() as u:
        u.tenants.add(Tenant(id="t1", name="Plant"))
        u.profiles.add(strict)
        u.profiles.add(DeviceProfile(id="p-open", tenant_id="t1", name="generic"))
        u.devices.add(Device(id="d-strict", tenant_id="t1", name="c1", profile_id="p-strict"))
        u.devices.add(Device(id="d-open", tenant_id="t1", name="g1", profile_id="p-open"))
        u.devices.add(Device(id="d-off", tenant_id="t1", name="g2", profile_id="p-open", disabled=True))
        u.commit()
    return factory


@dataclass
class Rig:
    pipeline: IngestPipeline
    store: FlakyStore
    metrics: IngestMetrics
    directory: DeviceDirectory
    outcomes: Outcomes
    batches: list[TelemetryBatch]

    def send(self, tag: str, device_id: str, payload: bytes, channel: Channel = Channel.TELEMETRY) -> None:
        message = IngestMessage(device_id, channel, payload, NOW_MS - 10, self.outcomes.callback(tag))
        self.pipeline.submit(message, timeout_s=5)

    def wait(self, *tags: str) -> dict[str, IngestOutcome]:
        wait_for(lambda: all(t in self.outcomes.got for t in tags), DEADLINE_S, f"outcomes {tags}")
        return {t: self.outcomes.got[t] for t in tags}


@pytest.fixture
def make_rig(uow: MemoryUnitOfWorkFactory) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(start: bool = True, **overrides: Any) -> Rig:
        store = FlakyStore()
        metrics = IngestMetrics(CollectorRegistry())
        directory = DeviceDirectory(uow)
        batches: list[TelemetryBatch] = []
        options: dict[str, Any] = {
            "max_payload_bytes": 4096,
            "max_future_ms": 60_000,
            "max_past_ms": 86_400_000,
            "queue_size": 100,
            "batch_max": 50,
            "batch_wait_ms": 5,
            "listeners": [batches.append],
        }
        options.update(overrides)
        pipeline = IngestPipeline(
            directory=directory, uow=uow, store=store, clock=FakeClock(), metrics=metrics, **options
        )
        rig = Rig(pipeline, store, metrics, directory, Outcomes(), batches)
        rigs.append(rig)
        if start:
            pipeline.start()
        return rig

    yield make
    for rig in rigs:
        rig.store.failing.clear()
        rig.pipeline.stop(timeout_s=5)


def stored(store: MemoryTelemetryStore, device_id: str) -> dict[str, float | str | None]:
    page = store.raw(device_id, None, 0, 2 * NOW_MS, limit=1000)
    return {p.key: (p.value if p.text is None else p.text) for p in page.points}


def sample(metrics: IngestMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_valid_values_are_stored_next_to_counted_rejects(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.send("a", "d-strict", b'{"pressure_bar": 7.5, "pressure_bar_typo": 1, "fault": "E1"}')
    rig.send("b", "d-strict", b'{"pressure_bar": 99}')
    rig.send("c", "d-open", b'[{"ts": 1700000000000, "values": {"x": 1, "y": NaN}}, {"z": true}]')
    rig.send("d", "d-open", b"{oops")
    got = rig.wait("a", "b", "c", "d")

    assert got["a"] == IngestOutcome(1 + 1, {"unknown_key": 1}, None, (("pressure_bar_typo", "unknown_key"),))
    assert (got["b"].accepted, got["b"].rejected) == (0, {"out_of_range": 1})
    assert (got["c"].accepted, got["c"].rejected) == (2, {"non_finite": 1})
    assert (got["d"].accepted, got["d"].error) == (0, "malformed_json")
    assert stored(rig.store, "d-strict") == {"pressure_bar": 7.5, "fault": "E1"}
    assert stored(rig.store, "d-open") == {"x": 1.0, "z": 1.0}
    assert rig.metrics.rejects_snapshot() == {
        "unknown_key": 1,
        "out_of_range": 1,
        "non_finite": 1,
        "malformed_json": 1,
    }
    assert sample(rig.metrics, "openiiot_ingest_points_total") == 4
    assert sample(rig.metrics, "openiiot_ingest_messages_total", channel="telemetry") == 4
    assert sample(rig.metrics, "openiiot_ingest_rejects_total", reason="out_of_range") == 1


def test_one_append_per_batch(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False, batch_wait_ms=1000)
    for i in range(20):
        rig.send(str(i), "d-open", b'{"ts": %d, "values": {"v": %d}}' % (NOW_MS - i, i))
    rig.pipeline.start()
    rig.wait(*(str(i) for i in range(20)))
    assert rig.store.calls == 1
    assert len(rig.batches) == 1 and len(rig.batches[0]) == 20
    assert sample(rig.metrics, "openiiot_ingest_batches_total") == 1


def test_unknown_and_disabled_devices_are_refused_and_get_no_activity(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.send("ghost", "d-ghost", b'{"a": 1}')
    rig.send("off", "d-off", b'{"a": 1}')
    rig.send("on", "d-open", b'{"a": 1}')
    got = rig.wait("ghost", "off", "on")
    assert got["ghost"].error == "unknown_device"
    assert got["off"].error == "device_disabled"
    assert stored(rig.store, "d-off") == {}
    assert rig.pipeline.last_activity_ms("d-open") == NOW_MS - 10
    assert rig.pipeline.last_activity_ms("d-off") is None
    assert rig.pipeline.last_activity_ms("d-ghost") is None


def test_client_attributes_are_upserted(make_rig: Callable[..., Rig], uow: MemoryUnitOfWorkFactory) -> None:
    rig = make_rig()
    rig.send("a", "d-open", b'{"fw": "1.2", "cfg": {"k": [1, 2]}, "bad key": 1}', Channel.ATTRIBUTES)
    got = rig.wait("a")
    assert (got["a"].accepted, got["a"].rejected) == (2, {"bad_key": 1})
    with uow() as u:
        attrs = {a.key: a for a in u.attributes.list("d-open", AttributeScope.CLIENT)}
    assert {k: a.value for k, a in attrs.items()} == {"fw": "1.2", "cfg": {"k": [1, 2]}}
    assert attrs["fw"].updated_ms == NOW_MS - 10
    assert sample(rig.metrics, "openiiot_ingest_messages_total", channel="attributes") == 1


def test_store_failure_acknowledges_nothing_until_the_retry_commits(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.store.failing.set()
    rig.send("a", "d-open", b'{"a": 1}')
    rig.send("b", "d-open", b'{"ts": 1699999999000, "values": {"b": 2}}')
    wait_for(lambda: rig.store.failures >= 3, DEADLINE_S, "three failed attempts")
    assert rig.outcomes.got == {}
    assert stored(rig.store, "d-open") == {}
    rig.store.failing.clear()
    got = rig.wait("a", "b")
    assert got["a"].accepted == 1 and got["b"].accepted == 1
    assert stored(rig.store, "d-open") == {"a": 1.0, "b": 2.0}
    assert sample(rig.metrics, "openiiot_ingest_store_errors_total") >= 3
    assert len(rig.batches) == 1  # listeners see the committed batch once


def test_full_queue_blocks_then_raises_overloaded(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False, queue_size=2)
    rig.send("a", "d-open", b'{"a": 1}')
    rig.send("b", "d-open", b'{"b": 1}')
    assert rig.pipeline.queue_depth == 2
    late = IngestMessage("d-open", Channel.TELEMETRY, b'{"c": 1}', NOW_MS, rig.outcomes.callback("c"))
    started = time.monotonic()
    with pytest.raises(Overloaded):
        rig.pipeline.submit(late, timeout_s=0.2)
    assert time.monotonic() - started >= 0.2  # it waited for room before giving up

    blocked = threading.Thread(target=rig.pipeline.submit, args=(late,))  # no timeout: waits for room
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    rig.pipeline.start()
    blocked.join(DEADLINE_S)
    assert not blocked.is_alive()
    assert set(rig.wait("a", "b", "c")) == {"a", "b", "c"}


def test_stop_drains_the_queue_and_then_refuses(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(start=False)
    for i in range(30):
        rig.send(str(i), "d-open", b'{"ts": %d, "values": {"v": 1}}' % (NOW_MS - i))
    rig.pipeline.start()
    rig.pipeline.stop(timeout_s=5)
    assert len(rig.outcomes.got) == 30
    assert len(rig.store.raw("d-open", None, 0, 2 * NOW_MS).points) == 30
    with pytest.raises(Overloaded):
        rig.send("late", "d-open", b'{"v": 1}')


def test_listener_errors_are_counted_and_do_not_stop_ingest(make_rig: Callable[..., Rig]) -> None:
    def broken(batch: TelemetryBatch) -> None:
        raise RuntimeError("rule engine bug")

    seen: list[int] = []
    rig = make_rig(listeners=[broken, lambda batch: seen.append(len(batch))])
    rig.send("a", "d-open", b'{"a": 1, "b": 2}')
    rig.wait("a")
    wait_for(lambda: seen == [2], DEADLINE_S, "second listener")
    rig.send("b", "d-open", b'{"c": 3}')
    rig.wait("b")
    wait_for(lambda: seen == [2, 1], DEADLINE_S, "second batch")
    assert sample(rig.metrics, "openiiot_ingest_callback_errors_total", callback="listener") == 2


def test_profile_changes_apply_after_invalidation(
    make_rig: Callable[..., Rig], uow: MemoryUnitOfWorkFactory
) -> None:
    rig = make_rig()
    rig.send("before", "d-open", b'{"temp": 500}')
    assert rig.wait("before")["before"].accepted == 1
    with uow() as u:
        u.profiles.update(
            DeviceProfile(
                id="p-open", tenant_id="t1", name="generic", keys=(TelemetryKeySpec("temp", max_value=100),)
            )
        )
        u.commit()
    rig.directory.invalidate_profile("p-open")
    rig.send("after", "d-open", b'{"temp": 500}')
    assert rig.wait("after")["after"].rejected == {"out_of_range": 1}


def test_directory_caches_unknown_devices_briefly(uow: MemoryUnitOfWorkFactory) -> None:
    now = [0.0]
    directory = DeviceDirectory(uow, negative_ttl_s=5, monotonic=lambda: now[0])
    assert directory.resolve("d-new") is None
    with uow() as u:
        u.devices.add(Device(id="d-new", tenant_id="t1", name="n1", profile_id="p-open"))
        u.commit()
    assert directory.resolve("d-new") is None  # negative cache still holds
    now[0] = 6.0
    entry = directory.resolve("d-new")
    assert entry is not None and entry.tenant_id == "t1" and entry.profile.id == "p-open"


def test_directory_invalidate_sees_a_disabled_device(uow: MemoryUnitOfWorkFactory) -> None:
    directory = DeviceDirectory(uow)
    entry = directory.resolve("d-open")
    assert entry is not None and not entry.disabled
    with uow() as u:
        u.devices.update(Device(id="d-open", tenant_id="t1", name="g1", profile_id="p-open", disabled=True))
        u.commit()
    assert directory.resolve("d-open") == entry  # cached
    directory.invalidate("d-open")
    refreshed = directory.resolve("d-open")
    assert refreshed is not None and refreshed.disabled


def test_worker_waits_briefly_to_fill_a_batch(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(batch_max=2, batch_wait_ms=5000)
    rig.send("a", "d-open", b'{"a": 1}')
    wait_for(lambda: rig.pipeline.queue_depth == 0, DEADLINE_S, "worker took the first message")
    assert rig.outcomes.got == {}  # held back while the batch fills
    rig.send("b", "d-open", b'{"b": 1}')
    rig.wait("a", "b")  # batch_max reached: committed without waiting out batch_wait
    assert rig.store.calls == 1
