"""The HTTP device API over the real pipeline and a DuckDB store: statuses, counted reasons, no data lost."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from tests.polling import eventually

from openiiot.connectivity.http.device_api import create_device_router
from openiiot.domain.credentials import generate_token, hash_token
from openiiot.domain.model import AttributeScope, Device, DeviceProfile, TelemetryKeySpec, Tenant
from openiiot.domain.telemetry import TelemetryBatch
from openiiot.services.clock import SystemClock
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ingest import IngestPipeline
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.metadata import MemoryUnitOfWorkFactory
from openiiot.storage.telemetry.duckdb_store import DuckDBTelemetryStore

pytestmark = pytest.mark.integration

MAX_BYTES = 2048
HOUR_MS = 3_600_000
TOKEN = generate_token()
OFF_TOKEN = generate_token()


class FlakyDuckDB(DuckDBTelemetryStore):
    """The real store, made to fail appends on demand."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failing = threading.Event()
        self.failures = 0

    def append(self, batch: TelemetryBatch) -> int:
        if self.failing.is_set():
            self.failures += 1
            raise OSError("disk full")
        return super().append(batch)


@dataclass
class Api:
    client: httpx.AsyncClient
    pipeline: IngestPipeline
    store: FlakyDuckDB
    metrics: IngestMetrics
    uow: MemoryUnitOfWorkFactory

    async def post(
        self, path: str, body: bytes | str, token: str | None = TOKEN, **kw: Any
    ) -> httpx.Response:
        headers = {"X-Device-Token": token} if token else {}
        headers.update(kw.pop("headers", {}))
        content = body.encode() if isinstance(body, str) else body
        return await self.client.post(path, content=content, headers=headers, **kw)

    def stored(self, device_id: str) -> dict[str, float | str | None]:
        page = self.store.raw(device_id, None, 0, 2**62, limit=1000)
        return {p.key: (p.value if p.text is None else p.text) for p in page.points}


def metadata() -> MemoryUnitOfWorkFactory:
    factory = MemoryUnitOfWorkFactory()
    profile = DeviceProfile(
        id="p1",
        tenant_id="t1",
        name="compressor",
        strict=True,
        keys=(TelemetryKeySpec("pressure_bar", min_value=0, max_value=16), TelemetryKeySpec("temp_c")),
    )
    with factory() as u:
        u.tenants.add(Tenant(id="t1", name="Plant"))
        u.profiles.add(profile)
        u.devices.add(
            Device(id="d1", tenant_id="t1", name="c1", profile_id="p1", token_hash=hash_token(TOKEN))
        )
        u.devices.add(
            Device(
                id="d-off",
                tenant_id="t1",
                name="c2",
                profile_id="p1",
                token_hash=hash_token(OFF_TOKEN),
                disabled=True,
            )
        )
        u.commit()
    return factory


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[Callable[..., Api]]:
    built: list[Api] = []

    def build(start: bool = True, queue_size: int = 100, **router_options: Any) -> Api:
        uow = metadata()
        store = FlakyDuckDB(tmp_path / f"telemetry-{len(built)}.duckdb")
        metrics = IngestMetrics(CollectorRegistry())
        clock = SystemClock()
        pipeline = IngestPipeline(
            directory=DeviceDirectory(uow),
            uow=uow,
            store=store,
            clock=clock,
            metrics=metrics,
            max_payload_bytes=MAX_BYTES,
            max_future_ms=HOUR_MS,
            max_past_ms=24 * HOUR_MS,
            queue_size=queue_size,
            batch_max=100,
            batch_wait_ms=2,
        )
        app = FastAPI()
        app.include_router(
            create_device_router(pipeline, uow.credential_lookup(), clock, MAX_BYTES, **router_options)
        )
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://device")
        if start:
            pipeline.start()
        built.append(Api(client, pipeline, store, metrics, uow))
        return built[-1]

    yield build
    for api in built:
        await api.client.aclose()
        api.store.failing.clear()
        api.pipeline.stop(timeout_s=5)
        api.store.close()


TELEMETRY = "/api/v1/device/d1/telemetry"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_valid_telemetry_is_stored_before_the_answer(make_api: Callable[..., Api]) -> None:
    api = make_api()
    ts = now_ms() - 1000
    response = await api.post(
        TELEMETRY, f'[{{"ts": {ts}, "values": {{"pressure_bar": 7.1}}}}, {{"temp_c": 40}}]'
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": {}}
    assert api.stored("d1") == {"pressure_bar": 7.1, "temp_c": 40.0}
    assert api.pipeline.last_activity_ms("d1") is not None


BAD_NEXT_TO_GOOD = [
    ('{"temp_c": 1, "pressure_bar": null, "x": 2}', {"unsupported_value": 1, "unknown_key": 1}),
    ('{"temp_c": 1, "pressure_bar": {"v": 2}}', {"unsupported_value": 1}),
    ('{"temp_c": 1, "pressure_bar": "high"}', {"unsupported_value": 1}),
    ('{"temp_c": 1, "pressure_bar": NaN}', {"non_finite": 1}),
    ('{"temp_c": 1, "pressure_bar": -Infinity}', {"non_finite": 1}),
    ('{"temp_c": 1, "pressure_bar": 17}', {"out_of_range": 1}),
    ('{"temp_c": 1, "vibration": 3}', {"unknown_key": 1}),
    ('[{"temp_c": 1}, {"ts": 99999999999999, "values": {"pressure_bar": 1}}]', {"ts_in_future": 1}),
    ('[{"temp_c": 1}, {"ts": 1000, "values": {"pressure_bar": 1}}]', {"ts_too_old": 1}),
    ('[{"temp_c": 1}, {"ts": "yesterday", "values": {"pressure_bar": 1}}]', {"bad_timestamp": 1}),
    ('[{"temp_c": 1}, 5]', {"wrong_shape": 1}),
]


@pytest.mark.parametrize(("body", "rejected"), BAD_NEXT_TO_GOOD)
async def test_bad_values_are_counted_while_good_ones_are_stored(
    make_api: Callable[..., Api], body: str, rejected: dict[str, int]
) -> None:
    api = make_api()
    response = await api.post(TELEMETRY, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "rejected": rejected}
    assert api.stored("d1") == {"temp_c": 1.0}
    assert api.metrics.rejects_snapshot() == rejected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "malformed_json"),
        ('{"pressure_bar": NaN}', "non_finite"),
        ('{"pressure_bar": 99}', "out_of_range"),
        ("[1, 2]", "wrong_shape"),
        ('{"ts": 99999999999999, "values": {"temp_c": 1}}', "ts_in_future"),
    ],
)
async def test_nothing_valid_is_a_400_problem(make_api: Callable[..., Api], body: str, reason: str) -> None:
    api = make_api()
    response = await api.post(TELEMETRY, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://openiiot.dev/problems/validation-failed"
    assert problem["status"] == 400 and problem["title"] and reason in problem["detail"]
    assert reason in {e["reason"] for e in problem["errors"]}
    assert all(set(e) == {"field", "reason"} for e in problem["errors"])
    assert api.metrics.rejects_snapshot()[reason] >= 1
    assert api.stored("d1") == {}


async def test_oversized_body_is_413_with_or_without_content_length(make_api: Callable[..., Api]) -> None:
    api = make_api()
    big = b'{"temp_c": 1, "pad": "' + b"x" * MAX_BYTES + b'"}'
    response = await api.post(TELEMETRY, big)
    assert response.status_code == 413
    assert response.json()["errors"] == [{"field": "$", "reason": "too_large"}]

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 256):
            yield big[i : i + 256]

    response = await api.client.post(TELEMETRY, content=chunks(), headers={"X-Device-Token": TOKEN})
    assert response.status_code == 413
    assert api.metrics.rejects_snapshot() == {"too_large": 2}
    assert api.stored("d1") == {}


async def test_wrong_missing_or_unknown_credentials_get_the_same_401(make_api: Callable[..., Api]) -> None:
    api = make_api()
    wrong = await api.post(TELEMETRY, '{"temp_c": 1}', token="nope")
    missing = await api.post(TELEMETRY, '{"temp_c": 1}', token=None)
    unknown = await api.post("/api/v1/device/ghost/telemetry", '{"temp_c": 1}')
    other = await api.post("/api/v1/device/d-off/telemetry", '{"temp_c": 1}')  # d1's token on another device
    for response in (wrong, missing, unknown, other):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json() == wrong.json()
    assert api.metrics.rejects_snapshot() == {"unauthorized": 4}
    assert api.stored("d1") == {}


async def test_bearer_token_is_accepted(make_api: Callable[..., Api]) -> None:
    api = make_api()
    response = await api.post(
        TELEMETRY, '{"temp_c": 2}', token=None, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert api.stored("d1") == {"temp_c": 2.0}


async def test_disabled_device_is_refused(make_api: Callable[..., Api]) -> None:
    api = make_api()
    response = await api.post("/api/v1/device/d-off/telemetry", '{"temp_c": 1}', token=OFF_TOKEN)
    assert response.status_code == 403
    assert api.metrics.rejects_snapshot() == {"device_disabled": 1}
    assert api.stored("d-off") == {}


async def test_client_attributes_are_stored(make_api: Callable[..., Api]) -> None:
    api = make_api()
    response = await api.post(
        "/api/v1/device/d1/attributes", '{"fw": "2.0.1", "cfg": {"rate_s": 5}, "x y": 1}'
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": {"bad_key": 1}}
    with api.uow() as u:
        values = {a.key: a.value for a in u.attributes.list("d1", AttributeScope.CLIENT)}
    assert values == {"fw": "2.0.1", "cfg": {"rate_s": 5}}


async def test_store_outage_delays_the_answer_and_loses_nothing(make_api: Callable[..., Api]) -> None:
    api = make_api()
    api.store.failing.set()
    request = asyncio.create_task(api.post(TELEMETRY, '{"temp_c": 3, "pressure_bar": 4}'))
    await eventually(lambda: api.store.failures >= 2, 10, "two failed appends")
    assert not request.done()  # not acknowledged while nothing is committed
    api.store.failing.clear()
    response = await asyncio.wait_for(request, 10)
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "rejected": {}}
    assert api.stored("d1") == {"temp_c": 3.0, "pressure_bar": 4.0}


async def test_store_outage_longer_than_the_reply_timeout_is_503_and_retry_is_harmless(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(reply_timeout_s=0.3)
    api.store.failing.set()
    ts = now_ms()
    body = f'{{"ts": {ts}, "values": {{"temp_c": 5}}}}'
    response = await api.post(TELEMETRY, body)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    api.store.failing.clear()
    await eventually(
        lambda: api.stored("d1") == {"temp_c": 5.0}, 10, "the first copy committed after the outage"
    )
    retried = await api.post(TELEMETRY, body)  # the device retries after its 503
    assert retried.status_code == 200
    points = api.store.raw("d1", None, 0, 2**62).points
    assert [(p.key, p.ts_ms, p.value) for p in points] == [("temp_c", ts, 5.0)]


async def test_full_queue_answers_503_with_retry_after(make_api: Callable[..., Api]) -> None:
    api = make_api(start=False, queue_size=1, submit_timeout_s=0.1)
    first = asyncio.create_task(api.post(TELEMETRY, '{"temp_c": 1}'))
    await eventually(lambda: api.pipeline.queue_depth == 1, 10, "first request queued")
    second = await api.post(TELEMETRY, '{"temp_c": 2}')
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert second.headers["content-type"] == "application/problem+json"
    api.pipeline.start()
    assert (await asyncio.wait_for(first, 10)).status_code == 200
    assert api.stored("d1") == {"temp_c": 1.0}
