"""MQTT channel: publish the notification as JSON to `{prefix}/{tenant_id}/{suffix}`.

The prefix is `$platform/alarms` on external brokers and `platform/alarms` on the embedded broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from openiiot.domain.errors import DeliveryFailed, OpenIIoTError
from openiiot.domain.notifications import ChannelKind, NotificationMessage

#: where notifications go on an external broker (Mosquitto, EMQX), beside the other `$platform/` topics
ALARM_TOPIC_PREFIX = "$platform/alarms"
#: the embedded amqtt broker refuses client publishes to `$` topics (MQTT-4.7.2-1, read strictly) and
#: disconnects the publisher, so in embedded mode notifications use this prefix instead
EMBEDDED_ALARM_TOPIC_PREFIX = "platform/alarms"


class MqttPublisher(Protocol):
    """Anything that publishes bytes to a topic, e.g. `MqttPlatformPublisher`."""

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


def alarm_topic(tenant_id: str, suffix: str, prefix: str = ALARM_TOPIC_PREFIX) -> str:
    """The topic integrations subscribe to for a tenant's notifications."""
    return f"{prefix}/{tenant_id}/{suffix}"


class MqttChannel:
    """Publishes notifications with QoS 1, not retained (each is an event, not a state)."""

    kind = ChannelKind.MQTT.value

    def __init__(
        self, publisher: MqttPublisher, *, topic_prefix: str = ALARM_TOPIC_PREFIX, qos: int = 1
    ) -> None:
        self._publisher = publisher
        self._prefix = topic_prefix.rstrip("/")
        self._qos = qos

    def send(self, message: NotificationMessage, target: Mapping[str, Any]) -> None:
        """Hand the message to the publisher (QoS 1 is then paho's job); DeliveryFailed when it refuses."""
        topic = alarm_topic(message.event.tenant_id, str(target["topic_suffix"]), self._prefix)
        try:
            self._publisher.publish(topic, orjson.dumps(message.as_dict()), qos=self._qos, retain=False)
        except OpenIIoTError as exc:
            raise DeliveryFailed(f"MQTT publish to {topic} failed: {exc}", retryable=True) from exc
