"""The ingest consumer against a real broker: hand-off to `submit`, ack after `on_done`, redelivery."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mqtt_fixtures import (
    MAX_PAYLOAD_BYTES,
    SERVICE_PASSWORD,
    SERVICE_USER,
    BrokerHandle,
    Client,
    broker_config,
    clients,
    mqtt_broker,
)
from tests.polling import wait_for

from openiiot.connectivity.mqtt.broker import EmbeddedBroker
from openiiot.connectivity.mqtt.consumer import MqttIngestConsumer
from openiiot.domain.errors import Overloaded
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome

pytestmark = pytest.mark.integration
__all__ = ["clients", "mqtt_broker"]  # fixtures used by name

MakeClient = Callable[..., Client]
DONE = IngestOutcome(accepted=1, rejected={}, error=None)


class FixedClock:
    def now_ms(self) -> int:
        return 1_700_000_000_000


class Recorder:
    """A fake pipeline: keeps every submitted message; `on_done` is called only when the test says so."""

    def __init__(self) -> None:
        self.messages: list[IngestMessage] = []
        self.gate = threading.Event()
        self.gate.set()

    def submit(self, message: IngestMessage) -> None:
        self.gate.wait(10)  # a closed gate stands for a full ingest queue
        self.messages.append(message)

    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]

    def finish_all(self) -> None:
        for message in self.messages:
            assert message.on_done is not None
            message.on_done(DONE)


@pytest.fixture
def consumers(mqtt_broker: BrokerHandle) -> Iterator[Callable[..., MqttIngestConsumer]]:
    made: list[MqttIngestConsumer] = []

    def make(submit: Callable[[IngestMessage], None], **kwargs: Any) -> MqttIngestConsumer:
        consumer = MqttIngestConsumer(
            host="127.0.0.1",
            port=mqtt_broker.port,
            username=SERVICE_USER,
            password=SERVICE_PASSWORD,
            submit=submit,
            clock=FixedClock(),
            drain_timeout_s=0.2,
            **kwargs,
        )
        consumer.start()
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.stop()


def test_device_messages_reach_submit_with_their_channel(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    recorder = Recorder()
    consumers(recorder.submit)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b'{"t": 1}')
    device.publish("v1/devices/dev-a/attributes", b'{"fw": "1.2"}')
    device.publish("v1/devices/dev-a/rpc/response/9", b'{"ok": true}')  # not for ingest
    wait_for(lambda: len(recorder.messages) == 2, 10, "two messages")
    got = [(m.device_id, m.channel, m.payload, m.received_ms) for m in recorder.messages]
    assert got == [
        ("dev-a", Channel.TELEMETRY, b'{"t": 1}', 1_700_000_000_000),
        ("dev-a", Channel.ATTRIBUTES, b'{"fw": "1.2"}', 1_700_000_000_000),
    ]


def test_an_unacknowledged_message_is_delivered_again_after_a_restart(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    first = Recorder()
    consumer = consumers(first.submit)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b'{"n": 1}')
    wait_for(lambda: first.messages, 10, "the first delivery")
    assert consumer.outstanding == 1 and consumer.counts["acked"] == 0
    consumer.stop()  # "crash" before the batch committed: on_done never ran
    first.finish_all()  # a late outcome of the old connection must not ack anything
    assert consumer.counts["ack_skipped_stale"] == 1

    second = Recorder()
    consumers(second.submit)  # same service credential → same client id → same persistent session
    wait_for(lambda: second.messages, 10, "the redelivery")
    assert second.payloads() == [b'{"n": 1}']


def test_an_acknowledged_message_is_not_delivered_again(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    first = Recorder()
    consumer = consumers(first.submit)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b'{"n": 1}')
    wait_for(lambda: first.messages, 10, "the first delivery")
    first.finish_all()
    wait_for(lambda: consumer.counts["acked"] == 1 and consumer.outstanding == 0, 10, "the ack")
    consumer.stop()

    device.publish("v1/devices/dev-a/telemetry", b'{"n": 2}')  # while the platform is away
    second = Recorder()
    consumers(second.submit)
    wait_for(lambda: second.messages, 10, "the message queued while offline")
    assert second.payloads() == [b'{"n": 2}']


def test_a_burst_of_mixed_sizes_arrives_whole_and_in_order(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    # Many packets per socket read, lengths of one to three bytes, and packets cut by the read buffer's end:
    # the consumer's own reader must hand each payload over exactly and go on reading after them.
    recorder = Recorder()
    consumer = consumers(recorder.submit)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    sizes = [1, 126, 127, 128, 129, 4000, 16383, 16384, 16385, 20000] * 3 + list(range(1, 400, 7))
    sizes = [min(size, MAX_PAYLOAD_BYTES) for size in sizes]
    sent = [bytes([48 + i % 10]) * size for i, size in enumerate(sizes)]
    infos = [device.client.publish("v1/devices/dev-a/telemetry", body, qos=1) for body in sent]
    wait_for(lambda: all(info.mid in device.pubacks for info in infos), 20, "the broker's PUBACKs")
    wait_for(lambda: len(recorder.messages) == len(sent), 20, "every message")
    assert recorder.payloads() == sent
    recorder.finish_all()
    wait_for(lambda: consumer.counts["acked"] == len(sent) and consumer.outstanding == 0, 10, "the acks")
    device.publish("v1/devices/dev-a/telemetry", b'{"after": 1}')  # the connection still works
    wait_for(lambda: len(recorder.messages) == len(sent) + 1, 10, "the next message")
    assert recorder.payloads()[-1] == b'{"after": 1}'


def test_a_blocked_submit_loses_nothing(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    consumers(recorder.submit)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    for n in range(50):
        device.client.publish("v1/devices/dev-a/telemetry", b'{"n": %d}' % n, qos=1)
    wait_for(lambda: len(device.pubacks) == 50, 10, "the broker to take all 50")
    recorder.gate.set()
    wait_for(lambda: len(recorder.messages) == 50, 10, "all 50 after the queue freed up")
    assert recorder.payloads() == [b'{"n": %d}' % n for n in range(50)]


def test_an_overloaded_pipeline_leaves_the_message_unacknowledged(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    def refuse(_message: IngestMessage) -> None:
        raise Overloaded("the ingest pipeline is stopping")

    consumer = consumers(refuse)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b'{"n": 1}')
    wait_for(lambda: consumer.counts["overloaded"] == 1, 10, "the refusal to be counted")
    assert consumer.outstanding == 0 and consumer.counts["acked"] == 0
    consumer.stop()
    recorder = Recorder()
    consumers(recorder.submit)
    wait_for(lambda: recorder.messages, 10, "the redelivery")
    assert recorder.payloads() == [b'{"n": 1}']


def test_the_consumer_reconnects_after_a_broker_restart(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    recorder = Recorder()
    consumer = consumers(recorder.submit, reconnect_min_s=0.1, reconnect_max_s=0.5)
    mqtt_broker.broker.stop()
    wait_for(lambda: not consumer.connected.is_set(), 10, "the consumer to notice")
    mqtt_broker.broker = EmbeddedBroker(broker_config(mqtt_broker.port, mqtt_broker.credentials_path))
    mqtt_broker.broker.start()
    wait_for(consumer.connected.is_set, 10, "the reconnect")
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b'{"after": "restart"}')
    wait_for(lambda: recorder.messages, 10, "a message after the restart")
    assert recorder.payloads() == [b'{"after": "restart"}']


def test_broker_stats_reach_the_consumer(
    mqtt_broker: BrokerHandle, clients: MakeClient, consumers: Callable[..., MqttIngestConsumer]
) -> None:
    consumer = consumers(Recorder().submit)
    assert clients(mqtt_broker.port, "dev-a", "nope").connect().is_failure
    wait_for(lambda: consumer.broker_stats.get("denied", {}).get("auth_bad_token") == 1, 10, "the stats")
