"""OPENIIOT_MQTT_URL parsing and the ACLs a device gets on Mosquitto."""

from __future__ import annotations

import pytest

from openiiot.connectivity.mqtt.dynsec import BrokerUrl, device_acls, parse_broker_url
from openiiot.connectivity.mqtt.topics import device_may_publish, device_may_subscribe
from openiiot.domain.errors import ConfigurationError


def test_the_url_gives_host_port_and_the_platforms_credentials() -> None:
    assert parse_broker_url("mqtt://openiiot:s3cret@mqtt.plant.example:11883") == BrokerUrl(
        "mqtt.plant.example", 11883, "openiiot", "s3cret"
    )
    # percent-encoded user and password, default ports, TLS
    assert parse_broker_url("mqtt://u%40x:p%3Aw%2F@h") == BrokerUrl("h", 1883, "u@x", "p:w/")
    assert parse_broker_url("mqtts://u:p@h") == BrokerUrl("h", 8883, "u", "p", tls=True)


def test_an_empty_password_is_a_password_but_none_is_refused() -> None:
    assert parse_broker_url("mqtt://u:@h:1883").password == ""
    with pytest.raises(ConfigurationError, match="no user and password"):
        parse_broker_url("mqtt://u@h:1883")


def test_the_device_acls_are_the_embedded_brokers_topic_rules() -> None:
    acls = device_acls("d1")
    sends = {a["topic"] for a in acls if a["acltype"] == "publishClientSend"}
    subscribes = {a["topic"] for a in acls if a["acltype"] == "subscribePattern"}
    assert all(a["allow"] for a in acls)
    # every published topic the embedded broker allows is listed, and nothing it refuses
    for topic in sends:
        probe = topic.replace("+", "42")
        assert device_may_publish("d1", probe), topic
    assert not any(device_may_publish("d2", t.replace("+", "42")) for t in sends)
    assert subscribes == {"v1/devices/d1/#"} and device_may_subscribe("d1", "v1/devices/d1/#")
    assert not device_may_publish("d1", "v1/devices/d1/attributes/shared")
    assert "v1/devices/d1/attributes/shared" not in sends
