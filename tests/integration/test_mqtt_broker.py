"""The embedded broker process: device authentication, topic ACL, payload limit, stats, retained pushes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from mqtt_fixtures import (
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
from openiiot.connectivity.mqtt.publisher import MqttPlatformPublisher
from openiiot.connectivity.mqtt.topics import BROKER_STATS_TOPIC
from openiiot.domain.errors import ConfigurationError

pytestmark = pytest.mark.integration
__all__ = ["clients", "mqtt_broker"]  # fixtures used by name

MakeClient = Callable[..., Client]


def denied(observer: Client) -> dict[str, Any]:
    """The latest denial counters the broker published on its stats topic."""
    stats = [orjson.loads(m.payload) for m in observer.messages if m.topic == BROKER_STATS_TOPIC]
    return stats[-1]["denied"] if stats else {}


def stats_observer(broker: BrokerHandle, clients: MakeClient) -> Client:
    observer = clients(broker.port, SERVICE_USER, SERVICE_PASSWORD)
    assert not observer.connect().is_failure
    observer.subscribe(BROKER_STATS_TOPIC, 0)
    return observer


def test_a_device_connects_with_its_token(mqtt_broker: BrokerHandle, clients: MakeClient) -> None:
    reason = clients(mqtt_broker.port, "dev-a", "tok-a").connect()
    assert not reason.is_failure


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("dev-a", "wrong-token", "auth_bad_token"),
        ("dev-a", "tok-b", "auth_bad_token"),  # another device's token
        ("no-such-device", "tok-a", "auth_unknown_device"),
        ("dev-off", "tok-off", "auth_device_disabled"),
        (None, None, "auth_anonymous"),
        (SERVICE_USER, "not-the-service-password", "auth_bad_service_password"),
    ],
)
def test_bad_credentials_are_refused_and_counted(
    mqtt_broker: BrokerHandle, clients: MakeClient, username: str | None, password: str | None, reason: str
) -> None:
    mqtt_broker.set_device("dev-off", "tok-off", disabled=True)
    observer = stats_observer(mqtt_broker, clients)
    client = clients(mqtt_broker.port, username, password)
    assert str(client.connect()) == "Not authorized"
    wait_for(lambda: denied(observer).get(reason, 0) >= 1, 10, f"{reason} to be counted")


def test_a_device_may_not_take_a_reserved_platform_client_id(
    mqtt_broker: BrokerHandle, clients: MakeClient
) -> None:
    client = clients(mqtt_broker.port, "dev-a", "tok-a", client_id="openiiot-ingest-guess")
    assert client.connect().is_failure


def test_rotation_and_disabling_take_effect_within_the_cache_ttl(
    mqtt_broker: BrokerHandle, clients: MakeClient
) -> None:
    assert not clients(mqtt_broker.port, "dev-a", "tok-a").connect().is_failure
    mqtt_broker.set_device("dev-a", "tok-a-rotated")

    def old_token_refused() -> bool:
        return bool(clients(mqtt_broker.port, "dev-a", "tok-a").connect().is_failure)

    wait_for(old_token_refused, 10, "the old token to be refused")
    assert not clients(mqtt_broker.port, "dev-a", "tok-a-rotated").connect().is_failure
    mqtt_broker.remove_device("dev-a")
    wait_for(
        lambda: clients(mqtt_broker.port, "dev-a", "tok-a-rotated").connect().is_failure,
        10,
        "a deleted device to be refused",
    )


def test_publishing_to_another_devices_topic_is_dropped_and_counted(
    mqtt_broker: BrokerHandle, clients: MakeClient
) -> None:
    platform = stats_observer(mqtt_broker, clients)
    platform.subscribe("v1/devices/+/telemetry")
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-b/telemetry", b'{"forged": 1}')
    device.publish("v1/devices/dev-a/telemetry", b'{"own": 1}')  # same connection still works
    wait_for(
        lambda: any(m.topic == "v1/devices/dev-a/telemetry" for m in platform.messages), 10, "own message"
    )
    wait_for(lambda: denied(platform).get("publish_denied", 0) >= 1, 10, "the denial to be counted")
    assert [m.payload for m in platform.messages if m.topic.startswith("v1/")] == [b'{"own": 1}']


def test_subscribing_to_another_devices_topics_is_refused_and_counted(
    mqtt_broker: BrokerHandle, clients: MakeClient
) -> None:
    observer = stats_observer(mqtt_broker, clients)
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    for topic_filter in ("v1/devices/dev-b/#", "v1/devices/+/telemetry", "#", BROKER_STATS_TOPIC):
        assert device.subscribe(topic_filter)[0].is_failure, topic_filter
    assert not device.subscribe("v1/devices/dev-a/#")[0].is_failure
    wait_for(lambda: denied(observer).get("subscribe_denied", 0) >= 4, 10, "4 subscribe denials")


def test_oversized_payloads_are_dropped_and_counted(mqtt_broker: BrokerHandle, clients: MakeClient) -> None:
    platform = stats_observer(mqtt_broker, clients)
    platform.subscribe("v1/devices/+/telemetry")
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.publish("v1/devices/dev-a/telemetry", b"x" * 5000)  # limit in the fixture: 4096 bytes
    device.publish("v1/devices/dev-a/telemetry", b'{"small": 1}')
    wait_for(lambda: denied(platform).get("payload_too_large", 0) >= 1, 10, "the oversize to be counted")
    assert [m.payload for m in platform.messages if m.topic.startswith("v1/")] == [b'{"small": 1}']


def test_shared_attributes_are_retained_for_a_device_that_subscribes_later(
    mqtt_broker: BrokerHandle, clients: MakeClient
) -> None:
    publisher = MqttPlatformPublisher(
        host="127.0.0.1", port=mqtt_broker.port, username=SERVICE_USER, password=SERVICE_PASSWORD
    )
    publisher.start()
    try:
        publisher.publish_shared_attributes("dev-a", {"setpoint_bar": 7.5, "mode": "eco"})
        publisher.publish_shared_attributes("dev-b", {"setpoint_bar": 6.0})
        observer = clients(mqtt_broker.port, SERVICE_USER, SERVICE_PASSWORD)
        observer.connect()
        # the retained message is stored once the broker has routed it; observe that, then connect the device
        observer.subscribe("v1/devices/+/attributes/shared")
        wait_for(lambda: len(observer.messages) == 2, 10, "both retained messages")
    finally:
        publisher.stop()
    device = clients(mqtt_broker.port, "dev-a", "tok-a")
    device.connect()
    device.subscribe("v1/devices/dev-a/#")
    wait_for(lambda: device.messages, 10, "the retained shared attributes")
    assert [(m.topic, orjson.loads(m.payload)) for m in device.messages] == [
        ("v1/devices/dev-a/attributes/shared", {"setpoint_bar": 7.5, "mode": "eco"})
    ]


def test_a_taken_port_gives_a_clear_configuration_error(tmp_path: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = EmbeddedBroker(broker_config(port, tmp_path / "none.json"))
        with pytest.raises(ConfigurationError, match=rf"MQTT port {port} is already in use"):
            broker.start()
        assert broker.pid is None


def test_a_broker_that_dies_at_start_is_reported(tmp_path: Any) -> None:
    from mqtt_fixtures import free_port

    broker = EmbeddedBroker(
        broker_config(free_port(), tmp_path / "x.json", credentials_factory="nowhere:nothing")
    )
    with pytest.raises(ConfigurationError, match=r"failed to start.*cannot import credentials factory"):
        broker.start()


def test_stop_ends_the_broker_process(tmp_path: Any) -> None:
    from mqtt_fixtures import free_port

    port = free_port()
    (tmp_path / "c.json").write_text("{}")
    broker = EmbeddedBroker(broker_config(port, tmp_path / "c.json"))
    broker.start()
    broker.stop()
    refused = threading.Event()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        refused.set()
    assert refused.is_set()
