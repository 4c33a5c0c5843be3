"""The MQTT clients' reconnect delay (ingest consumer, publisher, dynamic-security admin client):
exponential, jittered, capped, reset after a good connection."""

from __future__ import annotations

import random

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from openiiot.connectivity.mqtt.consumer import ReconnectBackoff
from openiiot.connectivity.mqtt.dynsec import DynsecClient, parse_broker_url


def test_each_delay_lies_in_the_upper_half_of_its_doubled_base_up_to_the_cap() -> None:
    backoff = ReconnectBackoff(0.5, 30.0, rng=random.Random(7))
    delays = [backoff.next_delay_s() for _ in range(12)]
    for attempt, delay_s in enumerate(delays):
        base_s = min(30.0, 0.5 * 2**attempt)
        assert base_s / 2 <= delay_s <= base_s, (attempt, delay_s)
    assert max(delays) <= 30.0
    assert all(d >= 15.0 for d in delays[6:])  # the base has reached the cap: 0.5 s * 2^6 > 30 s


def test_workers_restarted_together_do_not_retry_in_step() -> None:
    first, second = (ReconnectBackoff(0.5, 30.0, rng=random.Random(seed)) for seed in (1, 2))
    assert [first.next_delay_s() for _ in range(5)] != [second.next_delay_s() for _ in range(5)]
    spread = {round(ReconnectBackoff(0.5, 30.0).next_delay_s(), 6) for _ in range(50)}
    assert len(spread) > 40  # fifty workers losing the broker at once spread their first attempt


def test_a_good_connection_starts_the_sequence_again() -> None:
    backoff = ReconnectBackoff(0.5, 30.0, rng=random.Random(3))
    for _ in range(10):
        backoff.next_delay_s()
    backoff.reset()
    assert 0.25 <= backoff.next_delay_s() <= 0.5


def _admin(seed: int) -> tuple[DynsecClient, mqtt.Client]:
    """The platform's dynamic-security admin client (not connected) and a paho client for its callbacks."""
    url = parse_broker_url("mqtt://platform:secret@127.0.0.1:1883")
    return DynsecClient(url, rng=random.Random(seed)), mqtt.Client(CallbackAPIVersion.VERSION2)


def test_the_dynsec_admin_client_backs_off_with_jitter_between_its_bounds_and_resets_on_connack() -> None:
    admin, paho_client = _admin(11)
    delays = []
    admin._on_disconnect(paho_client, None, None, "broker gone", None)  # the broker went away ...
    delays.append(admin.reconnect_delay_s)
    for _ in range(9):  # ... and every attempt to reach it fails
        admin._on_connect_fail(paho_client, None)
        delays.append(admin.reconnect_delay_s)
    for attempt, delay_s in enumerate(delays):
        base_s = min(DynsecClient.RECONNECT_MAX_S, DynsecClient.RECONNECT_MIN_S * 2**attempt)
        assert delay_s is not None and base_s / 2 <= delay_s <= base_s, (attempt, delay_s)
    assert all(1.0 <= d <= 2.0 for d in delays[5:] if d is not None)  # capped: 0.1 s * 2^5 > 2 s
    admin._on_connect(paho_client, None, None, ReasonCode(PacketTypes.CONNACK, identifier=0), None)
    admin._on_disconnect(paho_client, None, None, "kicked", None)
    assert admin.reconnect_delay_s is not None and 0.05 <= admin.reconnect_delay_s <= 0.1


def test_admin_clients_of_several_api_processes_do_not_reconnect_in_step() -> None:
    (first, paho_first), (second, paho_second) = _admin(1), _admin(2)
    sequences: list[list[float | None]] = [[], []]
    for _ in range(5):
        for admin, paho_client, seen in (
            (first, paho_first, sequences[0]),
            (second, paho_second, sequences[1]),
        ):
            admin._on_connect_fail(paho_client, None)
            seen.append(admin.reconnect_delay_s)
    assert sequences[0] != sequences[1]
