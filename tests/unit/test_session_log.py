"""Mosquitto's log lines become device session announcements (first client opens, last one closes)."""

from __future__ import annotations

from openiiot.connectivity.mqtt.session_log import MosquittoSessionTracker


def tracker() -> tuple[MosquittoSessionTracker, list[tuple[str, bool, str]]]:
    events: list[tuple[str, bool, str]] = []
    clock = iter(range(1000, 10**6))
    made = MosquittoSessionTracker(
        lambda device, connected, _ts, reason: events.append((device, connected, reason)),
        lambda: next(clock),
        ignore_usernames=frozenset({"platform"}),
    )
    return made, events


def test_a_device_is_connected_from_its_first_client_to_its_last() -> None:
    t, events = tracker()
    t.feed("1795920187: New connection from 127.0.0.1:35919 on port 1883.")
    t.feed("1795920187: New client connected from 127.0.0.1:35919 as c-1 (p2, c1, k60, u'dev1').")
    t.feed("1795920188: New client connected from 10.0.0.2:4000 as c 2 (odd) (p5, c0, k30, u'dev1').")
    assert events == [("dev1", True, "")]
    t.feed("1795920189: Client c-1 closed its connection.")
    assert events == [("dev1", True, "")]
    t.feed("1795920190: Client c 2 (odd) has exceeded timeout, disconnecting.")
    assert events == [("dev1", True, ""), ("dev1", False, "has exceeded timeout, disconnecting")]


def test_every_way_of_leaving_closes_the_session() -> None:
    for line in (
        "Client c-1 disconnected.",
        "Client c-1 been disconnected by administrative action.",
        "Client c-1 disconnected due to protocol error.",
        "Socket error on client c-1, disconnecting.",
    ):
        t, events = tracker()
        t.feed("New client connected from 127.0.0.1:1 as c-1 (p2, c1, k60, u'dev1').")
        t.feed(line)
        assert [e[:2] for e in events] == [("dev1", True), ("dev1", False)], line


def test_platform_clients_refused_clients_and_takeovers() -> None:
    t, events = tracker()
    t.feed("New client connected from 127.0.0.1:1 as openiiot-ingest-abc (p2, c0, k30, u'platform').")
    t.feed("New client connected from 127.0.0.1:2 as whatever (p2, c1, k30, u'platform').")
    t.feed("New client connected from 127.0.0.1:3 as anon (p2, c1, k30).")
    t.feed("Client nobody disconnected, not authorised.")
    assert events == []
    # the same client id reused by another device: the first device's session ends
    t.feed("New client connected from 127.0.0.1:4 as shared-id (p2, c1, k30, u'dev1').")
    t.feed("Client shared-id already connected, closing old connection.")
    t.feed("New client connected from 127.0.0.1:5 as shared-id (p2, c1, k30, u'dev2').")
    assert [e[:2] for e in events] == [("dev1", True), ("dev1", False), ("dev2", True)]
