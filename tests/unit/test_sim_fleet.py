"""Device lists, station grouping, model building, payloads and shard balancing."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openiiot.domain.errors import NotFound, ValidationFailed
from openiiot.sim.fleet import (
    DEVICE_MODELS,
    RobotGroup,
    SimulatedDevice,
    StationGroup,
    build_groups,
    partition_stations,
    read_devices_csv,
)
from openiiot.sim.publisher import _split, telemetry_payload, telemetry_topic

START_MS = 1_709_690_400_000


def dev(device_id: str, model: str, group: str | None = None) -> SimulatedDevice:
    return SimulatedDevice(device_id, f"token-{device_id}", model, group)


def write_csv(path: Path, rows: list[dict[str, str]], fields: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)


@given(st.lists(st.tuples(ids, ids, st.sampled_from(DEVICE_MODELS)), min_size=1, max_size=20))
def test_csv_round_trips_any_valid_device_list(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    path = tmp_path_factory.mktemp("csv") / "devices.csv"
    records = [{"device_id": d, "access_token": t, "model": m} for d, t, m in rows]
    write_csv(path, records, ["device_id", "access_token", "model"])
    assert read_devices_csv(path) == [SimulatedDevice(d, t, m) for d, t, m in rows]


def test_csv_with_unknown_model_or_missing_column_is_rejected(tmp_path: Path) -> None:
    bad_model = write_csv(
        tmp_path / "a.csv",
        [{"device_id": "d1", "access_token": "t", "model": "boiler"}],
        ["device_id", "access_token", "model"],
    )
    with pytest.raises(ValidationFailed, match="boiler"):
        read_devices_csv(bad_model)
    no_token = write_csv(
        tmp_path / "b.csv", [{"device_id": "d1", "model": "compressor"}], ["device_id", "model"]
    )
    with pytest.raises(ValidationFailed, match="access_token"):
        read_devices_csv(no_token)


def test_consecutive_rows_form_stations_of_compressors_then_meters() -> None:
    devices = [
        dev("c1", "compressor"), dev("c2", "compressor"), dev("c3", "compressor"),
        dev("f1", "flow_meter"), dev("p1", "pressure_sensor"),
        dev("r1", "robot_joint"),
        dev("c4", "compressor"), dev("c5", "compressor"), dev("f2", "flow_meter"),
    ]  # fmt: skip
    stations = partition_stations(devices)
    assert [[d.device_id for d in s] for s in stations] == [
        ["c1", "c2", "c3", "f1", "p1"],
        ["c4", "c5", "f2"],
    ]


def test_group_column_overrides_row_order() -> None:
    devices = [dev("f1", "flow_meter", "A"), dev("c1", "compressor", "B"), dev("c2", "compressor", "A")]
    stations = partition_stations(devices)
    assert [[d.device_id for d in s] for s in stations] == [["f1", "c2"], ["c1"]]


def test_build_groups_gives_each_device_one_model_and_is_deterministic() -> None:
    devices = [
        dev("c1", "compressor"),
        dev("c2", "compressor"),
        dev("f1", "flow_meter"),
        dev("r1", "robot_joint"),
    ]
    groups = build_groups(devices, seed=3, start_ts_ms=START_MS)
    assert [type(g) for g in groups] == [StationGroup, RobotGroup]
    assert sorted(d.device_id for g in groups for d in g.devices) == ["c1", "c2", "f1", "r1"]

    def trace(seed: int) -> list[list[dict[str, float]]]:
        out = []
        for g in build_groups(devices, seed=seed, start_ts_ms=START_MS):
            for _ in range(30):
                g.advance(1.0)
            out.append([values for _, values in g.readings()])
        return out

    assert trace(3) == trace(3)
    assert trace(3) != trace(4)


def test_station_with_meters_only_gets_unlisted_compressors() -> None:
    group = StationGroup([dev("f1", "flow_meter")], seed=1, start_ts_ms=START_MS)
    for _ in range(600):
        group.advance(1.0)
    assert group.readings()[0][1]["flow_m3_min"] > 0
    assert len(group.station.compressors) == 3


def test_commands_reach_the_compressor_of_the_device() -> None:
    group = StationGroup([dev("c1", "compressor"), dev("c2", "compressor")], seed=1, start_ts_ms=START_MS)
    group.command("c2", "stop")
    assert not group.station.compressors[1].enabled
    assert group.station.compressors[0].enabled
    with pytest.raises(NotFound):
        group.command("nope", "stop")


def test_duplicate_device_ids_are_rejected() -> None:
    with pytest.raises(ValidationFailed):
        build_groups([dev("x", "compressor"), dev("x", "robot_joint")], seed=1, start_ts_ms=START_MS)


def test_payload_is_thingsboard_json_with_timestamp() -> None:
    payload = orjson.loads(telemetry_payload(START_MS, {"power_kw": 81.5}))
    assert payload == {"ts": START_MS, "values": {"power_kw": 81.5}}
    assert telemetry_topic("abc") == "v1/devices/abc/telemetry"


def test_shards_balance_devices_without_splitting_a_station() -> None:
    station_devices = [dev(f"c{i}", "compressor") for i in range(4)] + [dev("f", "flow_meter")]
    robots = [dev(f"r{i}", "robot_joint") for i in range(600)]
    groups = build_groups(station_devices + robots, seed=1, start_ts_ms=START_MS)
    shards = _split(groups, per_thread=250)
    assert len(shards) == 3
    sizes = [sum(len(g.devices) for g in shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 5
    assert sum(1 for shard in shards for g in shard if isinstance(g, StationGroup)) == 1
