"""Callbacks go only where they may, and one partner's endpoint cannot hold up the others'.

Against real PostgreSQL and real HTTP receivers: callback URLs that reach inside are refused
when a message is accepted (every spelling of loopback, metadata, private and unique-local
addresses) and again when the worker connects (a DNS answer that changed in between); a partner
whose endpoint hangs holds only its own slots; a host that keeps failing is left alone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook, WebhookVerificationError

from sms_sender.callbacks import CallbackWorker
from sms_sender.main import create_app
from sms_sender.repository.callbacks import CallbackRepository, DueCallback
from vas_common.breaker import CircuitBreaker
from vas_common.outbound import AddressPolicy, IPAddress, OutboundGuard
from vas_devstack.pytest_plugin import eventually, serve, serve_http

FORBIDDEN_CALLBACK_URLS = [
    "https://127.0.0.1/cb",
    "https://[::1]/cb",
    "https://localhost/cb",
    "https://2130706433/cb",
    "https://0x7f000001/cb",
    "https://127.1/cb",
    "https://0.0.0.0/cb",
    "https://[::ffff:127.0.0.1]/cb",
    "https://[::ffff:7f00:1]/cb",
    "https://127.0.0.1:8025/faults/drop-binds",  # the SMSC simulator's fault endpoint
    "http://127.0.0.1:8025/faults/pause",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.5/cb",
    "https://172.16.3.4/cb",
    "https://192.168.1.20/cb",
    "https://100.64.0.1/cb",
    "https://[fd00::1]/cb",
    "https://[fe80::1]/cb",
    "https://224.0.0.1/cb",
    "http://93.184.216.34/cb",  # public, but plain http is not allowed by default
]


async def _post_with_callback(client: httpx.AsyncClient, partner: Any, url: str) -> httpx.Response:
    await client.post("/v1/callback-secrets", headers=partner.headers)
    return await client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": ["13812345678"], "content": "回调", "category": "notice", "callback_url": url},
    )


@pytest.mark.parametrize("url", FORBIDDEN_CALLBACK_URLS)
async def test_callback_urls_that_reach_inside_are_refused_at_accept(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, url: str
) -> None:
    partner = await make_partner(sms_sender_client)()
    response = await _post_with_callback(sms_sender_client, partner, url)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "callback_url_forbidden"


async def test_listed_destinations_and_http_are_accepted_only_when_configured(
    database: str, kafka: Any, sms_settings: Any, make_partner: Any
) -> None:
    settings = sms_settings(
        database, kafka, callback_allow_http=True, callback_allowed_destinations=["127.0.0.1", "10.9.0.0/16"]
    )
    async with serve(create_app(settings)) as client:
        partner = await make_partner(client)()
        for url in ("http://127.0.0.1:9/cb", "https://10.9.8.7/cb"):
            response = await _post_with_callback(client, partner, url)
            assert response.status_code == 202, (url, response.text)
        refused = await _post_with_callback(client, partner, "http://127.0.0.2:9/cb")
        assert refused.json()["code"] == "callback_url_forbidden"


@dataclass
class Receiver:
    """A partner's callback endpoint: answers `status`, or holds every request until released."""

    url: str = ""
    status: int = 204
    hang: bool = False
    calls: int = 0
    open_requests: int = 0
    most_open: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # headers, body


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:
        made: list[Receiver] = []

        async def make(**kw: Any) -> Receiver:
            receiver = Receiver(**kw)
            app = FastAPI()

            @app.post("/hook")
            async def hook(request: Request) -> Response:
                receiver.calls += 1
                receiver.received.append((dict(request.headers), await request.body()))
                receiver.open_requests += 1
                receiver.most_open = max(receiver.most_open, receiver.open_requests)
                try:
                    if receiver.hang:
                        await receiver.release.wait()
                    return Response(status_code=receiver.status)
                finally:
                    receiver.open_requests -= 1

            receiver.url = f"{await stack.enter_async_context(serve_http(app))}/hook"
            made.append(receiver)
            return receiver

        try:
            yield make
        finally:
            for receiver in made:  # hanging requests answer, so the servers can stop
                receiver.release.set()


@pytest.fixture
async def workers(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., Any]]:
    started: list[CallbackWorker] = []

    async def start(
        guard: OutboundGuard | None = None, registry: CollectorRegistry | None = None, **kw: Any
    ) -> CallbackWorker:
        worker = CallbackWorker(
            pool,
            registry or CollectorRegistry(),
            destinations=guard or OutboundGuard(AddressPolicy.of(allow_http=True, allowed=["127.0.0.1"])),
            poll_interval_s=0.05,
            **kw,
        )
        await worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


NEW_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


async def enqueue(
    pool: asyncpg.Pool, partner_id: uuid.UUID, url: str, count: int = 1, secret: str = NEW_SECRET
) -> None:
    repo = CallbackRepository()
    async with pool.acquire() as conn:
        await repo.set_secret(conn, partner_id, secret)
        await repo.enqueue(
            conn,
            [
                (uuid.uuid4(), partner_id, uuid.uuid4(), url, {"message": {"status": "delivered"}})
                for _ in range(count)
            ],
        )


async def deliveries(pool: asyncpg.Pool, partner_id: uuid.UUID) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT state, attempts, last_error FROM callback_deliveries WHERE partner_id = $1 ORDER BY id",
                partner_id,
            )
        )


class RebindingResolver:
    """A DNS server under an attacker's control: a public address first, then loopback."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [ipaddress.ip_address(answer)]


async def test_a_host_that_resolves_inside_at_connect_time_is_not_called(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    receiver = await receivers()
    port = httpx.URL(receiver.url).port
    url = f"http://partner.example:{port}/hook"
    guard = OutboundGuard(
        AddressPolicy(allow_http=True), resolve=RebindingResolver(["93.184.216.34", "127.0.0.1"])
    )
    await guard.check_url(url)  # accepted: it resolved to a public address then
    partner_id = uuid.uuid4()
    await enqueue(pool, partner_id, url)

    await workers(guard, retry_initial_s=3600)

    async def attempted() -> list[asyncpg.Record]:
        return [r for r in await deliveries(pool, partner_id) if r["last_error"]]

    [row] = await eventually(attempted)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "127.0.0.1" in row["last_error"]
    assert "loopback" in row["last_error"]
    assert receiver.calls == 0


async def test_a_hanging_partner_holds_only_its_own_slots(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    slow = await receivers(hang=True)
    fast = await receivers()
    slow_partner, fast_partner = uuid.uuid4(), uuid.uuid4()
    await enqueue(pool, slow_partner, slow.url, count=20)
    await workers(concurrency=10, partner_concurrency=4, read_timeout_s=60)
    await eventually(lambda: slow.open_requests == 4)

    await enqueue(pool, fast_partner, fast.url)

    async def fast_delivered() -> bool:
        return [r["state"] for r in await deliveries(pool, fast_partner)] == ["delivered"]

    await eventually(fast_delivered)
    assert fast.calls == 1
    assert slow.open_requests == 4  # all still hanging, none timed out
    assert slow.most_open == 4
    slow_rows = await deliveries(pool, slow_partner)
    assert sorted(r["attempts"] for r in slow_rows) == [0] * 16 + [1] * 4  # the rest never claimed
    assert not any(r["last_error"] for r in slow_rows)


async def test_a_host_that_keeps_failing_is_not_called_during_the_cooldown(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    failing = await receivers(status=503)
    partner_id = uuid.uuid4()
    await enqueue(pool, partner_id, failing.url, count=6)
    registry = CollectorRegistry()
    await workers(
        registry=registry,
        partner_concurrency=1,
        retry_initial_s=3600,
        breaker=CircuitBreaker(failures=3, cooldown_s=3600),
    )

    async def all_handled() -> list[asyncpg.Record]:
        rows = await deliveries(pool, partner_id)
        return rows if all(r["last_error"] for r in rows) else []

    rows = await eventually(all_handled)
    assert failing.calls == 3
    assert (
        sorted((r["attempts"], r["last_error"].startswith("HTTP 503")) for r in rows)
        == [(0, False)] * 3 + [(1, True)] * 3
    )
    assert registry.get_sample_value("sms_callback_breaker_opens_total") == 1

    async with pool.acquire() as conn:  # make every delivery due again: still not called
        await conn.execute("UPDATE callback_deliveries SET next_attempt_at = now(), last_error = NULL")
    await eventually(all_handled)
    assert failing.calls == 3


async def test_claimed_deliveries_come_back_when_the_lease_ends(pool: asyncpg.Pool) -> None:
    """A worker that dies after claiming leaves its rows to the next claim once the lease is over."""
    repo = CallbackRepository()
    partner_id = uuid.uuid4()
    await enqueue(pool, partner_id, "https://hooks.example/cb")
    async with pool.acquire() as conn:
        [claimed] = await repo.claim_due(conn, 10, timedelta(milliseconds=300), 4, {})
        assert await repo.claim_due(conn, 10, timedelta(seconds=30), 4, {}) == []

        async def reclaimed() -> list[DueCallback]:
            return await repo.claim_due(conn, 10, timedelta(seconds=30), 4, {})

        [again] = await eventually(reclaimed)
    assert (again.id, claimed.attempts, again.attempts) == (claimed.id, 1, 2)


async def test_a_callback_verifies_with_the_standard_webhooks_library_and_a_retry_keeps_its_id(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    receiver = await receivers(status=503)
    partner_id = uuid.uuid4()
    await enqueue(pool, partner_id, receiver.url)
    await workers(retry_initial_s=0.05, retry_max_s=0.05)
    await eventually(lambda: receiver.calls >= 2)

    [(first, first_body), (second, second_body), *_] = receiver.received
    assert first["webhook-id"] == second["webhook-id"]  # a retry is the same webhook: the receiver dedupes
    for headers, body in ((first, first_body), (second, second_body)):
        assert Webhook(NEW_SECRET).verify(body, headers) == {"message": {"status": "delivered"}}
        assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60  # wall time
        assert not any(h.startswith("x-vas-") for h in headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW_SECRET).verify(first_body.replace(b"delivered", b"failed"), first)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(first_body, first)


LEGACY_SECRET = "Ab-_cd" * 7 + "e"  # the shape of a secret handed out before (token_urlsafe(32))
LEGACY_AS_STANDARD = "whsec_" + base64.b64encode(LEGACY_SECRET.encode()).decode()


async def test_a_secret_from_before_keeps_working_and_has_the_old_headers_during_the_transition(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    """A secret handed out before Standard Webhooks: its key is its UTF-8 bytes, so the partner
    verifies with "whsec_" + base64(secret); until the deadline the old X-VAS-* headers come too."""
    receiver = await receivers()
    await enqueue(pool, uuid.uuid4(), receiver.url, secret=LEGACY_SECRET)
    await workers(legacy_headers_until=datetime.now(UTC) + timedelta(days=1))

    await eventually(lambda: receiver.calls == 1)
    [(headers, body)] = receiver.received
    Webhook(LEGACY_AS_STANDARD).verify(body, headers)
    Webhook(LEGACY_SECRET.encode()).verify(body, headers)  # the library takes the key bytes too
    signed = f"{headers['x-vas-event-id']}.{headers['x-vas-timestamp']}.".encode() + body
    expected = hmac.new(LEGACY_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-vas-signature"] == "sha256=" + expected  # the old verification still passes
    assert headers["x-vas-event-id"] == headers["webhook-id"]


async def test_after_the_transition_a_secret_from_before_gets_only_the_standard_headers(
    pool: asyncpg.Pool, receivers: Any, workers: Any
) -> None:
    receiver = await receivers()
    await enqueue(pool, uuid.uuid4(), receiver.url, secret=LEGACY_SECRET)
    await workers(legacy_headers_until=datetime.now(UTC) - timedelta(seconds=1))

    await eventually(lambda: receiver.calls == 1)
    [(headers, body)] = receiver.received
    Webhook(LEGACY_AS_STANDARD).verify(body, headers)
    assert not any(h.startswith("x-vas-") for h in headers)
