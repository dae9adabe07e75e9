"""pytest plugin: a real broker and a real PostgreSQL for the test session.

Loaded with `-p vas_devstack.pytest_plugin`. PostgreSQL is the embedded one unless
DATABASE_URL names a server to use instead; every test that asks gets a fresh database.
The page-test fixtures (`browser`, `open_page`) are in vas_devstack.browser, loaded with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from vas_devstack.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker
from vas_devstack.databases import ensure_database
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.smsc import SmscConfig, SmscSimulator

pytest_plugins = ["vas_devstack.browser"]


class PostgresHandle:
    def __init__(self, admin_dsn: str, embedded: EmbeddedPostgres | None) -> None:
        self.admin_dsn = admin_dsn
        self.embedded = embedded

    async def new_database(self, prefix: str = "t") -> str:
        return await ensure_database(self.admin_dsn, f"{prefix}_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresHandle]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield PostgresHandle(external, None)
        return
    # Not under pytest's basetemp: pytest prunes old basetemps, also those of a session
    # still running next to this one, and the server must outlive nothing but this session.
    root = Path(tempfile.mkdtemp(prefix="vas-test-pg-"))
    server = EmbeddedPostgres(root / "data", fast_unsafe=True)
    server.start()
    try:
        yield PostgresHandle(server.dsn(), server)
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def service_settings_kwargs(database_url: str, kafka_bootstrap: str) -> dict[str, Any]:
    """Settings every service gets in tests: its database, the broker, quick group joins."""
    return {
        "database_url": database_url,
        "kafka_bootstrap": kafka_bootstrap,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 500,
        "kafka_fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
        "operator_token": OPERATOR_TOKEN,
        "staff_token_key": STAFF_TOKEN_KEY,
        "log_json": False,
        "outbox_poll_interval_s": 0.2,
        # Tests poll with a key until the service has learnt it; the limit has a test of its own.
        "auth_failures_per_window": 100_000,
    }


OPERATOR_TOKEN = "test-operator-token"
STAFF_TOKEN_KEY = "test-staff-token-key-of-32-characters-or-more"


@pytest.fixture
async def database(postgres: PostgresHandle) -> str:
    """DSN of a fresh, empty database."""
    return await postgres.new_database()


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of the test's own, for tests that stop and start it. Not under
    pytest's basetemp either: every pytest session started as root makes /tmp/pytest-of-root
    private again, and the unprivileged PostgreSQL user of a running test then loses its way
    to its data folder (initdb or pg_ctl fail, a server is left running)."""
    root = Path(tempfile.mkdtemp(prefix="vas-own-pg-"))
    server = EmbeddedPostgres(root / "data", fast_unsafe=True)
    try:
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, for tests that stop and start it (same port)."""
    broker = EmbeddedBroker(tmp_path / "own-tansu.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def publisher(kafka: EmbeddedBroker) -> AsyncIterator[Any]:
    """A started `vas_common.kafka.EventPublisher` to the test's broker (`kafka`: a module that
    gives itself a broker of its own by overriding `kafka` gets a publisher to that one)."""
    from vas_common.kafka import EventPublisher
    from vas_common.settings import ServiceSettings
    from vas_common.telemetry import Metrics

    pub = EventPublisher(ServiceSettings(kafka_bootstrap=kafka.bootstrap), Metrics("test"))
    await pub.start()
    try:
        yield pub
    finally:
        await pub.stop()


@pytest.fixture
async def smsc() -> AsyncIterator[SmscSimulator]:
    """A started SMSC simulator of the test's own, in-process, on free ports (account vas / vas-pass)."""
    simulator = SmscSimulator(SmscConfig(smpp_port=0, http_port=0))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture(scope="session", autouse=True)
def tracer_provider() -> Any:
    """A provider that records every span, installed before any app is built: apps keep a
    provider installed before them, so a test may look at the spans of any app. (An app on
    its own installs one that records nothing when it has nowhere to export.)"""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    return provider


@pytest.fixture(scope="session")
def span_exporter(tracer_provider: Any) -> Any:
    """Every span finished from now on in the session, in memory."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@asynccontextmanager
async def serve(app: Any, base_url: str = "http://service") -> AsyncIterator[Any]:
    """Run an ASGI app's lifespan and give an httpx client talking to it in-process."""
    import httpx
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app, startup_timeout=90, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@asynccontextmanager
async def serve_http(app: Any, **config: Any) -> AsyncIterator[str]:
    """Run an ASGI app under uvicorn on a free local port; yields its origin (http://host:port)."""
    import asyncio

    import uvicorn

    from vas_devstack.net import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **config)
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def serve_on_port(app: Any) -> AsyncIterator[Any]:
    """Run an app's lifespan and serve it under uvicorn on a free local port, for a browser or
    another process; yields an httpx client whose base_url is that origin."""
    import httpx
    from asgi_lifespan import LifespanManager

    async with (
        LifespanManager(app, startup_timeout=90, shutdown_timeout=30) as manager,
        serve_http(manager.app) as origin,
        httpx.AsyncClient(base_url=origin) as client,
    ):
        yield client


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], timeout_s: float = 20.0, interval_s: float = 0.05
) -> Any:
    """Wait for a condition: call `check` until it returns a truthy value or the time is up.
    `check` may be a coroutine function or a plain one (e.g. `lambda: server.started`)."""
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last result: {last!r}")
        await asyncio.sleep(interval_s)


async def read_topic(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """The values of the first `count` records of a topic (all partitions, from the start),
    waiting for them as `eventually` does."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                values.extend(r.value or b"" for r in records)
            return len(values) >= count

        await eventually(enough)
    finally:
        await consumer.stop()
    return values


async def groups_settled(app: Any) -> None:
    """Wait until every consumer group of a running app holds all its partitions again. Stop the
    last replica of a service only after this: when the last member of a group leaves while the
    group rebalances (another replica left a moment before), Tansu, the dev broker, never forms
    that group again, and every later start of the service waits for it in vain."""
    runtime = app.state.runtime

    def settled() -> bool:
        partitions = runtime.settings.kafka_topic_partitions
        return all(len(r.assignment()) == len(r.topics) * partitions for r in runtime.consumers)

    await eventually(settled)


async def read_events(
    bootstrap: str, topic: str, where: Callable[[Any], bool], count: int
) -> list[tuple[Any, Any]]:
    """(event, record) for every record of `topic`, from its start, whose decoded event passes
    `where`: waits until `count` of them are there, then reads on to the end of the topic as it
    stands, so that a record more than expected (a duplicate) is in the answer too."""
    from aiokafka import AIOKafkaConsumer

    from vas_common.events import UnknownEvent, decode_event

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[tuple[Any, Any]] = []

    async def fetch() -> None:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                try:
                    event = decode_event(record.value or b"")
                except UnknownEvent:
                    continue
                if where(event):
                    found.append((event, record))

    async def enough() -> bool:
        await fetch()
        return len(found) >= count

    try:
        await eventually(enough)
        end = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, offset in end.items() if await consumer.position(tp) < offset]:
            await fetch()
    finally:
        await consumer.stop()
    return found


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of an httpx response, checked to have this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def repo_root() -> Path:
    return Path(__file__).resolve().parents[4]
