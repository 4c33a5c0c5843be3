"""Platform → device messages over MQTT, sent with the service credential."""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from openiiot.connectivity.mqtt.consumer import ReconnectBackoff, default_client_id
from openiiot.connectivity.mqtt.topics import shared_attributes_topic
from openiiot.domain.errors import ConfigurationError, Overloaded

log = logging.getLogger(__name__)


class MqttPlatformPublisher:
    """Publishes shared attributes (retained, QoS 1, JSON); paho queues while the broker is away."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str | None = None,
        keepalive_s: int = 30,
        tls: bool = False,
        max_queued_messages: int = 10_000,
    ) -> None:
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self._backoff = ReconnectBackoff(0.5, 30.0)
        self.connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or default_client_id(password, role="publisher"),
            clean_session=True,
        )
        self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set()  # the system's CA certificates (OPENIIOT_MQTT_URL=mqtts://...)
        self._client.max_queued_messages_set(max_queued_messages)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail

    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Connect in the background and wait up to `connect_timeout_s` for the first CONNACK."""
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive_s)
        self._client.loop_start()
        if not self.connected.wait(connect_timeout_s):
            self.stop()
            raise ConfigurationError(f"the MQTT publisher could not log in to {self._host}:{self._port}")

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def publish_shared_attributes(self, device_id: str, attrs: dict[str, Any]) -> None:
        """Publish `attrs`, retained, to the device's shared-attributes topic.

        A retained message replaces the previous one, so pass the device's complete set of shared
        attributes: a device that subscribes later receives exactly that set.
        """
        self._publish(shared_attributes_topic(device_id), orjson.dumps(attrs), retain=True)

    def clear_shared_attributes(self, device_id: str) -> None:
        """Remove the retained shared attributes of a device (when it is deleted)."""
        self._publish(shared_attributes_topic(device_id), b"", retain=True)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish any payload (alarm notifications under `$platform/`); Overloaded when the queue is full."""
        self._publish(topic, payload, retain=retain, qos=qos)

    def _publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise Overloaded(f"the MQTT publish queue is full; {topic} not sent")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("mqtt publish failed", extra={"topic": topic, "rc": int(info.rc)})

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("mqtt publisher refused by the broker", extra={"reason": str(reason)})
            return
        self._backoff.reset()
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self.connected.clear()
        self._schedule_reconnect()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        delay_s = self._backoff.next_delay_s()
        self._client.reconnect_delay_set(delay_s, delay_s)  # type: ignore[arg-type]
