"""The simulator publishes over a real MQTT broker, each device logging in with its own credentials."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from tests.conftest import require_service
from tests.polling import wait_for
from typer.testing import CliRunner

from openiiot.cli.sim import app as sim_app
from openiiot.domain.errors import ConfigurationError
from openiiot.sim.fleet import SimulatedDevice
from openiiot.sim.mqtt_pool import free_tcp_port
from openiiot.sim.publisher import SimRunner

pytestmark = pytest.mark.integration

START_MS = 1_709_690_400_000  # a Wednesday morning in Shanghai
SUBSCRIBER = ("observer", "observer-secret")


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@pytest.fixture
def devices() -> list[SimulatedDevice]:
    station = [SimulatedDevice(f"comp-{i}", f"tok-comp-{i}", "compressor") for i in range(3)]
    station += [
        SimulatedDevice("flow-1", "tok-flow", "flow_meter"),
        SimulatedDevice("pres-1", "tok-pres", "pressure_sensor"),
    ]
    return station + [SimulatedDevice(f"joint-{i}", f"tok-joint-{i}", "robot_joint") for i in range(6)]


@pytest.fixture
def broker(tmp_path: Path, devices: list[SimulatedDevice]) -> Iterator[int]:
    """A private Mosquitto on a free port that accepts only the listed devices and the observer."""
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        require_service("Mosquitto", "install the mosquitto package (apt-get install mosquitto)")
    passwords = tmp_path / "passwd"
    passwords.touch()
    for user, secret in [SUBSCRIBER, *((d.device_id, d.token) for d in devices)]:
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, secret], check=True)
    port = free_tcp_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        # `user`: mosquitto started as root would otherwise switch to a user that cannot read tmp_path
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        f"allow_anonymous false\npassword_file {passwords}\npersistence false\nmax_queued_messages 100000\n"
    )
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _accepts(port) or proc.poll() is not None, 10.0, "mosquitto to listen")
        if proc.poll() is not None:
            pytest.fail(f"mosquitto did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Observer:
    """Subscribes to every device's telemetry and keeps the decoded payloads per device."""

    def __init__(self, port: int) -> None:
        self.messages: dict[str, list[dict]] = defaultdict(list)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="observer")
        self.client.username_pw_set(*SUBSCRIBER)
        self.client.on_connect = lambda c, *_: c.subscribe("v1/devices/+/telemetry", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "observer could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        device_id = msg.topic.split("/")[2]
        with self._lock:
            self.messages[device_id].append(orjson.loads(msg.payload))

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.messages.values())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def observer(broker: int) -> Iterator[Observer]:
    obs = Observer(broker)
    yield obs
    obs.close()


def test_every_device_publishes_its_series_with_its_own_credentials(
    broker: int, observer: Observer, devices: list[SimulatedDevice]
) -> None:
    ticks = 40
    runner = SimRunner(
        devices,
        "127.0.0.1",
        broker,
        rate_hz=1.0,
        seed=5,
        realtime=False,
        start_ts_ms=START_MS,
        max_ticks=ticks,
    )
    runner.start()
    assert runner.wait(30)
    stats = runner.stats
    assert (stats.published, stats.acked, stats.dropped) == (ticks * len(devices), ticks * len(devices), 0)
    wait_for(lambda: observer.count() >= ticks * len(devices), 10.0, "all messages at the observer")

    assert set(observer.messages) == {d.device_id for d in devices}
    for device_id, payloads in observer.messages.items():
        assert [p["ts"] for p in payloads] == [START_MS + 1000 * k for k in range(ticks)], device_id
    compressor = observer.messages["comp-0"][-1]["values"]
    assert {"state", "power_kw", "flow_m3_min", "energy_kwh", "run_hours", "discharge_pressure_bar"} <= set(
        compressor
    )
    assert 4.0 < observer.messages["pres-1"][-1]["values"]["pressure_bar"] < 9.0
    energy = [p["values"]["energy_kwh"] for p in observer.messages["comp-0"]]
    assert energy == sorted(energy) and energy[-1] > 0
    cycles = [p["values"]["cycles"] for p in observer.messages["joint-0"]]
    assert cycles == sorted(cycles) and cycles[-1] >= 3


def test_a_device_with_a_wrong_token_is_refused_and_the_others_publish(
    broker: int, observer: Observer, devices: list[SimulatedDevice]
) -> None:
    impostor = SimulatedDevice("joint-0", "wrong-token", "robot_joint")
    fleet = [impostor, *[d for d in devices if d.model == "robot_joint" and d.device_id != "joint-0"]]
    runner = SimRunner(fleet, "127.0.0.1", broker, realtime=False, start_ts_ms=START_MS, max_ticks=5)
    runner.start(connect_timeout_s=5.0)
    assert runner.wait(30)
    wait_for(lambda: observer.count() >= 5 * (len(fleet) - 1), 10.0, "messages of the honest devices")
    stats = runner.stats
    assert "joint-0" not in observer.messages
    assert stats.dropped == 5, stats  # the impostor's five ticks, nobody else's
    assert stats.published == stats.acked == 5 * (len(fleet) - 1), stats


def test_runner_fails_clearly_when_no_broker_listens(devices: list[SimulatedDevice]) -> None:
    runner = SimRunner(devices[:1], "127.0.0.1", free_tcp_port(), realtime=False, max_ticks=1)
    with pytest.raises(ConfigurationError, match="could connect"):
        runner.start(connect_timeout_s=1.0)


def test_cli_runs_the_csv_for_the_given_duration(tmp_path: Path, broker: int, observer: Observer) -> None:
    csv_path = tmp_path / "devices.csv"
    csv_path.write_text(
        "device_id,access_token,model\ncomp-0,tok-comp-0,compressor\nflow-1,tok-flow,flow_meter\n"
    )
    result = CliRunner().invoke(
        sim_app,
        ["run", "--devices", str(csv_path), "--port", str(broker), "--rate-hz", "5", "--duration-s", "1.5"],
    )
    assert result.exit_code == 0, result.output
    assert "2/2 devices connected" in result.output
    wait_for(lambda: len(observer.messages["flow-1"]) >= 5, 5.0, "flow meter messages")
    assert "flow_m3_min" in observer.messages["flow-1"][0]["values"]
