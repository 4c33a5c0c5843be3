"""The embedded broker's subscription table can change while amqtt loops over it (a device subscribing while a
message is being broadcast): the loop must finish over what it started with, not die with "dictionary
changed size during iteration" (seen in the log of every first `openiiot demo`)."""

from __future__ import annotations

import pytest

from openiiot.connectivity.mqtt.broker import (
    BrokerRunConfig,
    SnapshotSubscriptions,
    _LimitedBroker,
    build_broker_config,
)
from openiiot.connectivity.mqtt.plugins import DenialStats
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory


def _table() -> dict[str, list[tuple[str, int]]]:
    return {"v1/devices/a/rpc/request/+": [("a", 1)], "v1/devices/+/telemetry": [("ingest", 1)]}


def test_a_plain_dict_fails_where_the_snapshot_table_goes_on() -> None:
    plain = _table()
    with pytest.raises(RuntimeError, match="changed size during iteration"):
        for _topic_filter, _subs in plain.items():
            plain["v1/devices/b/rpc/request/+"] = [("b", 1)]  # another device subscribes meanwhile
    table = SnapshotSubscriptions(_table())
    seen = []
    for topic_filter, _subs in table.items():
        seen.append(topic_filter)
        table["v1/devices/b/rpc/request/+"] = [("b", 1)]
        table.pop("v1/devices/+/telemetry", None)  # and a session ends
    assert seen == list(_table())  # the loop covered the table as it was when it began
    for topic_filter in table:
        table[topic_filter + "/x"] = []
    assert set(table) == {
        "v1/devices/a/rpc/request/+",
        "v1/devices/b/rpc/request/+",
        "v1/devices/a/rpc/request/+/x",
        "v1/devices/b/rpc/request/+/x",
    }
    assert table.get("v1/devices/b/rpc/request/+") == [("b", 1)]  # reads and writes are a dict's


async def test_the_embedded_broker_keeps_its_subscriptions_in_the_snapshot_table() -> None:
    config = BrokerRunConfig(
        host="127.0.0.1",
        port=1,
        max_payload_bytes=1024,
        service_username="svc",
        service_password_hash="0" * 64,
        credentials_factory="unused:unused",
        credentials_arg="",
    )
    stats = DenialStats()
    lookup = MemoryUnitOfWorkFactory().credential_lookup()
    broker = _LimitedBroker(build_broker_config(config, lookup, stats), max_payload_bytes=1024, stats=stats)
    assert isinstance(broker.subscriptions, SnapshotSubscriptions)
