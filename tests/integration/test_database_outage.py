"""Production mode: PostgreSQL goes away in the middle of ingest and comes back — no point is lost.

The platform reaches PostgreSQL through a TCP relay the test controls. Cutting the relay closes every
connection the platform holds and refuses new ones, which is what the platform sees when the database
server restarts or the network drops: the writer's connection breaks, reconnecting fails, and it keeps
failing until the relay is restored. Meanwhile devices keep sending. The ingest pipeline must not
acknowledge a message it has not committed, must retry with backoff, and must commit everything once the
database is back: the test counts the stored points.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from tests.polling import wait_for
from tests.postgres_support import temporary_database
from tests.unit.management_fixtures import JWT_SECRET, FakeClock, cheap_passwords, populate_tenant

from openiiot.services.clock import SystemClock
from openiiot.services.device_directory import DeviceDirectory
from openiiot.services.ingest import Channel, IngestMessage, IngestOutcome, IngestPipeline
from openiiot.services.management import build_services
from openiiot.services.metrics import IngestMetrics
from openiiot.storage.memory.telemetry import MemoryTelemetryStore
from openiiot.storage.sql.engine import create_metadata_engine
from openiiot.storage.sql.migrate import upgrade_to_head
from openiiot.storage.sql.uow import SqlUnitOfWorkFactory
from openiiot.storage.telemetry.postgres_store import PostgresTelemetryStore

pytestmark = pytest.mark.integration

KEYS = 10
PER_PHASE = 150  # messages before, during and after the outage


class Relay:
    """A TCP relay to PostgreSQL that the test can cut (every connection closed, new ones refused)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.down = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.fixture
def database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def test_ingest_survives_a_database_outage_without_losing_a_point(database: str) -> None:
    engine = create_metadata_engine(database)
    upgrade_to_head(engine)
    services = build_services(
        SqlUnitOfWorkFactory(engine),
        MemoryTelemetryStore(),
        FakeClock(),
        JWT_SECRET,
        900,
        passwords=cheap_passwords(),
    )
    device_id = populate_tenant(services, "acme").device_id
    parts = urlsplit(database)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    relayed = _via(database, relay.port)
    store = PostgresTelemetryStore(relayed, connect_timeout_s=1)
    relayed_engine = create_metadata_engine(relayed)
    uow = SqlUnitOfWorkFactory(relayed_engine)
    metrics = IngestMetrics(CollectorRegistry())
    pipeline = IngestPipeline(
        directory=DeviceDirectory(uow),
        uow=uow,
        store=store,
        clock=SystemClock(),
        metrics=metrics,
        max_payload_bytes=65536,
        max_future_ms=3_600_000,
        max_past_ms=86_400_000,
        queue_size=10_000,
        batch_max=50,
        batch_wait_ms=10,
    )
    acked: list[IngestOutcome] = []
    lock = threading.Lock()

    def on_done(outcome: IngestOutcome) -> None:
        with lock:
            acked.append(outcome)

    base_ms = int(time.time() * 1000) - 600_000
    sent = 0

    def send(n: int) -> None:
        nonlocal sent
        for _ in range(n):
            payload = orjson.dumps(
                {"ts": base_ms + sent * 100, "values": {f"k{j}": sent + j for j in range(KEYS)}}
            )
            pipeline.submit(
                IngestMessage(device_id, Channel.TELEMETRY, payload, base_ms + sent * 100, on_done)
            )
            sent += 1

    pipeline.start()
    try:
        send(PER_PHASE)
        wait_for(lambda: len(acked) == PER_PHASE, 20, "the first messages to be committed")
        relay.cut()
        send(PER_PHASE)
        time.sleep(2.5)
        # nothing is acknowledged while the database is away; the pipeline keeps retrying
        assert len(acked) == PER_PHASE
        assert metrics.store_errors._value.get() >= 2  # type: ignore[attr-defined]
        relay.restore()
        send(PER_PHASE)
        wait_for(lambda: len(acked) == 3 * PER_PHASE, 60, "every message to be committed after the outage")
    finally:
        pipeline.stop(timeout_s=10)
        store.close()
        relayed_engine.dispose()
        relay.close()
        engine.dispose()
    assert all(o.accepted == KEYS and not o.rejected for o in acked)
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT ts) FROM telemetry.raw").fetchone()
    assert row == (3 * PER_PHASE * KEYS, 3 * PER_PHASE)  # every point once: nothing lost, nothing doubled
