"""The MQTT clients' reconnect delay: exponential, jittered, capped, reset after a good connection."""

from __future__ import annotations

import random

from openiiot.connectivity.mqtt.consumer import ReconnectBackoff


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
