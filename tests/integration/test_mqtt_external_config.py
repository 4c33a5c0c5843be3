"""Production-mode misconfiguration fails at start-up with a message that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.mosquitto_fixtures import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    Mosquitto,
    mosquitto,  # noqa: F401 - the fixture
    start_mosquitto,
    stop_mosquitto,
)

from openiiot.bootstrap import build_platform
from openiiot.connectivity.mqtt.dynsec import DynsecClient, parse_broker_url
from openiiot.domain.errors import ConfigurationError
from openiiot.settings import load_settings
from openiiot.sim.mqtt_pool import free_tcp_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://u:p@127.0.0.1:1883", "use mqtt:// or mqtts://"),
        ("127.0.0.1:1883", "use mqtt:// or mqtts://"),
        ("mqtt://127.0.0.1:1883", "has no user and password"),
        ("mqtt://u:p@:1883", "names no host"),
        ("mqtt://u:p@127.0.0.1:port", "not a valid URL"),
    ],
)
def test_a_malformed_broker_url_is_refused_before_anything_starts(
    tmp_path: Path, url: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_platform(load_settings(data_dir=tmp_path, mqtt_url=url))
    assert says in str(caught.value)
    assert "OPENIIOT_MQTT_URL" in str(caught.value)


def start_error(tmp_path: Path, url: str) -> str:
    platform = build_platform(load_settings(data_dir=tmp_path / "data", mqtt_url=url))
    try:
        with pytest.raises(ConfigurationError) as caught:
            platform.start()
    finally:
        platform.stop()
    return str(caught.value)


def test_an_unreachable_broker(tmp_path: Path) -> None:
    message = start_error(tmp_path, f"mqtt://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{free_tcp_port()}")
    assert "cannot reach the MQTT broker at 127.0.0.1:" in message
    assert "check host and port and that Mosquitto runs" in message


@pytest.mark.services
def test_wrong_admin_credentials(tmp_path: Path, mosquitto: Mosquitto) -> None:  # noqa: F811
    message = start_error(tmp_path, f"mqtt://{ADMIN_USER}:wrong@127.0.0.1:{mosquitto.port}")
    assert f"refused user {ADMIN_USER!r}" in message
    assert "check the user and password in OPENIIOT_MQTT_URL" in message


@pytest.mark.services
def test_a_user_without_the_admin_role(tmp_path: Path, mosquitto: Mosquitto) -> None:  # noqa: F811
    admin = DynsecClient(parse_broker_url(mosquitto.url))
    admin.connect()
    admin.run("createClient", username="plain", password="plain-pw")
    admin.close()
    message = start_error(tmp_path, f"mqtt://plain:plain-pw@127.0.0.1:{mosquitto.port}")
    assert "may not use the dynamic-security API" in message
    assert "give it the `admin` role" in message


@pytest.mark.services
def test_a_broker_without_the_dynamic_security_plugin(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "plain", dynsec=False, extra_conf="allow_anonymous true")
    try:
        message = start_error(tmp_path, f"mqtt://someone:pw@127.0.0.1:{broker.port}")
    finally:
        stop_mosquitto(broker)
    assert "the dynamic-security plugin does not answer" in message
    assert "mosquitto_dynamic_security.so" in message and "plugin_opt_config_file" in message
