"""The gateway router over the in-memory fakes and a real ingest pipeline: one outcome per gateway message
after all its parts are committed, refusals counted beside accepted data, and a part the ingest queue
refuses leaving the whole message unacknowledged."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import pytest
from prometheus_client import CollectorRegistry
from tests.polling import wait_for

from openiiot.domain.errors import Overloaded
from openiiot.domain.model import Device, DeviceProfile, Tenant
from openiiot.services.connectivity import ConnectivityService
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.gateway import GatewayRouter
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome, IngestPipeline
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.memory.telemetry import MemoryTelemetryStore

NOW_MS = 1_700_000_000_000


class FakeClock:
    def now_ms(self) -> int:
        return NOW_MS


class Rig:
    def __init__(
        self, *, queue_size: int = 100, timeout_s: float | None = None, max_children: int = 1000
    ) -> None:
        self.uow = MemoryUnitOfWorkFactory()
        with self.uow() as u:
            u.tenants.add(Tenant(id="t1", name="Plant"))
            u.profiles.add(DeviceProfile(id="p-gw", tenant_id="t1", name="edge-gateway"))
            u.devices.add(Device(id="gw", tenant_id="t1", name="GW", profile_id="p-gw", is_gateway=True))
            u.devices.add(Device(id="gw2", tenant_id="t1", name="GW2", profile_id="p-gw", is_gateway=True))
            u.devices.add(Device(id="direct", tenant_id="t1", name="Direct", profile_id="p-gw"))
            u.devices.add(
                Device(id="other", tenant_id="t1", name="Other", profile_id="p-gw", gateway_id="gw2")
            )
            u.commit()
        self.store = MemoryTelemetryStore()
        self.metrics = IngestMetrics(CollectorRegistry())
        directory = DeviceDirectory(self.uow)
        clock = FakeClock()
        self.connectivity = ConnectivityService(self.uow, directory, clock)
        self.pipeline = IngestPipeline(
            directory=directory, uow=self.uow, store=self.store, clock=clock, metrics=self.metrics,
            max_payload_bytes=4096, max_future_ms=60_000, max_past_ms=86_400_000,
            queue_size=queue_size, batch_max=50, batch_wait_ms=5,
            activity_listeners=[self.connectivity.activity],
        )  # fmt: skip
        self.router = GatewayRouter(
            uow=self.uow,
            directory=directory,
            clock=clock,
            submit=lambda m: self.pipeline.submit(m, timeout_s=timeout_s),
            metrics=self.metrics,
            connectivity=self.connectivity,
            max_payload_bytes=4096,
            max_children=max_children,
            respond=lambda gateway_id, payload: self.answers.append((gateway_id, orjson.loads(payload))),
        )
        self.answers: list[tuple[str, object]] = []
        self.outcomes: list[IngestOutcome] = []
        self._lock = threading.Lock()

    def send(self, channel: Channel, body: object, device_id: str = "gw") -> None:
        def on_done(outcome: IngestOutcome) -> None:
            with self._lock:
                self.outcomes.append(outcome)

        self.router.submit(IngestMessage(device_id, channel, orjson.dumps(body), NOW_MS - 10, on_done))

    def child_id(self, name: str) -> str:
        with self.uow() as u:
            return u.devices.get_by_name("t1", name).id

    def values(self, device_id: str) -> list[float | None]:
        return [p.value for p in self.store.raw(device_id, None, 0, 2 * NOW_MS, limit=100).points]


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    made.pipeline.start()
    yield made
    made.pipeline.stop(timeout_s=5)


def test_one_outcome_per_gateway_message_after_every_part_is_committed(rig: Rig) -> None:
    rig.send(
        Channel.GATEWAY_TELEMETRY,
        {
            "A": [{"ts": NOW_MS - 2_000, "values": {"p": 1.0}}, {"ts": NOW_MS - 1_000, "values": {"p": 2.0}}],
            "B": {"p": 3.0, "q": None},
            "Direct": {"p": 9.0},
            "Other": {"p": 9.0},
        },
    )
    wait_for(lambda: rig.outcomes, 10, "the outcome")
    [outcome] = rig.outcomes
    assert outcome.accepted == 3 and outcome.error is None
    assert outcome.rejected == {"not_a_child": 2, "unsupported_value": 1}
    assert rig.values(rig.child_id("A")) == [1.0, 2.0] and rig.values(rig.child_id("B")) == [3.0]
    assert rig.values("direct") == [] and rig.values("other") == []
    # the gateway is active (it sent something); each child is connected through it and active
    assert rig.connectivity.last_activity_ms("gw") == NOW_MS - 10
    for name in ("A", "B"):
        assert rig.connectivity.gateway_of(rig.child_id(name)) == "gw"
        assert rig.connectivity.last_activity_ms(rig.child_id(name)) == NOW_MS - 10


def test_an_unknown_gateway_or_an_unreadable_message_is_refused_whole(rig: Rig) -> None:
    outcomes: list[IngestOutcome] = []
    rig.router.submit(
        IngestMessage("ghost", Channel.GATEWAY_CONNECT, b'{"device": "A"}', NOW_MS, outcomes.append)
    )
    rig.send(Channel.GATEWAY_ATTRIBUTES, ["A"])
    assert [o.error for o in outcomes] == ["unknown_device"]
    assert [o.error for o in rig.outcomes] == ["wrong_shape"]
    with rig.uow() as u:
        assert u.devices.count("t1") == 4  # nobody was created


def test_a_part_the_queue_refuses_leaves_the_whole_message_unacknowledged() -> None:
    rig = Rig(queue_size=1, timeout_s=0.05)  # the worker is not running yet: the second part finds it full
    with pytest.raises(Overloaded):
        rig.send(Channel.GATEWAY_TELEMETRY, {"A": {"p": 1.0}, "B": {"p": 2.0}})
    rig.pipeline.start()
    try:
        wait_for(lambda: rig.values(rig.child_id("A")) == [1.0], 10, "the queued part to be stored")
        rig.pipeline.stop(timeout_s=5)  # drains: every on_done that will ever run has run
        assert rig.outcomes == []  # never acknowledged: the gateway's broker redelivers the whole message
    finally:
        rig.pipeline.stop(timeout_s=5)


def test_a_device_that_is_not_a_gateway_creates_nothing_and_keeps_its_own_telemetry(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.send(Channel.GATEWAY_CONNECT, {"device": "Sneaky"}, device_id="direct")
    rig.send(Channel.GATEWAY_TELEMETRY, {"Sneaky": {"p": 1.0}, "Other": {"p": 2.0}}, device_id="direct")
    rig.send(Channel.TELEMETRY, {"p": 5.0}, device_id="direct")  # its own data still goes through
    wait_for(lambda: len(rig.outcomes) == 3, 10, "the outcomes")
    assert [o.error for o in rig.outcomes[:2]] == ["not_a_gateway", "not_a_gateway"]
    assert rig.outcomes[2].accepted == 1 and rig.values("direct") == [5.0]
    with rig.uow() as u:
        assert u.devices.count("t1") == 4  # nobody was created
    assert rig.values("other") == []
    assert "is not a gateway" in caplog.text and "set is_gateway" in caplog.text


def test_a_gateway_creates_at_most_max_children_and_keeps_using_those_it_has() -> None:
    rig = Rig(max_children=2)
    rig.pipeline.start()
    try:
        rig.send(Channel.GATEWAY_TELEMETRY, {"A": {"p": 1.0}, "B": {"p": 2.0}, "C": {"p": 3.0}})
        wait_for(lambda: len(rig.outcomes) == 1, 10, "the first outcome")
        rig.send(Channel.GATEWAY_CONNECT, {"device": "D"})
        rig.send(Channel.GATEWAY_TELEMETRY, {"A": {"p": 4.0}})  # an existing child is still served
        wait_for(lambda: len(rig.outcomes) == 3, 10, "the outcomes")
        first, connect, again = rig.outcomes
        assert first.accepted == 2 and first.rejected == {"too_many_children": 1}
        assert connect.error == "too_many_children"
        assert again.accepted == 1 and again.rejected == {}
        with rig.uow() as u:
            assert sorted(d.name for d in u.devices.list("t1", gateway_id="gw")) == ["A", "B"]
    finally:
        rig.pipeline.stop(timeout_s=5)


def test_an_attribute_request_is_answered_with_the_childs_values(rig: Rig) -> None:
    rig.send(Channel.GATEWAY_ATTRIBUTES, {"A": {"fw": "2.4.1", "serial": "S-1"}})
    wait_for(lambda: rig.outcomes, 10, "the attributes to be stored")
    rig.send(Channel.GATEWAY_ATTRIBUTES_REQUEST, {"id": 1, "device": "A", "client": True, "key": "fw"})
    rig.send(
        Channel.GATEWAY_ATTRIBUTES_REQUEST,
        {"id": 2, "device": "A", "client": True, "keys": ["fw", "serial", "missing"]},
    )
    rig.send(Channel.GATEWAY_ATTRIBUTES_REQUEST, {"id": 3, "device": "A", "client": False, "key": "fw"})
    rig.send(Channel.GATEWAY_ATTRIBUTES_REQUEST, {"id": 4, "device": "Direct", "client": True, "key": "fw"})
    rig.send(Channel.GATEWAY_ATTRIBUTES_REQUEST, {"id": 5, "device": "A", "client": True})
    assert rig.answers[:3] == [
        ("gw", {"id": 1, "device": "A", "value": "2.4.1"}),
        ("gw", {"id": 2, "device": "A", "values": {"fw": "2.4.1", "serial": "S-1"}}),
        ("gw", {"id": 3, "device": "A"}),  # no shared attribute of that name
    ]
    gateway_id, refused = rig.answers[3]
    assert gateway_id == "gw" and isinstance(refused, dict) and "is a direct device" in refused["error"]
    assert len(rig.answers) == 4  # the request without a key cannot be answered; it is refused
    assert [o.error for o in rig.outcomes[1:]] == [None, None, None, "not_a_child", "wrong_shape"]
