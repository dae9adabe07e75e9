"""sms-sender keeps its own copy of the partners from subscription.events and authenticates
CP requests with it: newest revision wins, replays and reordering change nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.main import create_app
from sms_sender.repository.partners import PartnerCopyRepository
from sms_sender.service.partners import PartnerDirectory
from vas_common.auth import issue_api_key
from vas_common.events.subscription import (
    PartnerCreated,
    PartnerKeyRotated,
    PartnerState,
    PartnerStatus,
    PartnerStatusChanged,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import eventually, serve


def state(
    partner_id: uuid.UUID, key_sha: str, revision: int, status: PartnerStatus = PartnerStatus.ACTIVE
) -> PartnerState:
    return PartnerState(
        partner_id=partner_id,
        name=f"cp-{partner_id.hex[:6]}",
        status=status,
        api_key_id="k",
        api_key_sha256=key_sha,
        revision=revision,
        updated_at=datetime.now(UTC),
    )


async def status_for(client: httpx.AsyncClient, key: str) -> int:
    return (await client.get("/v1/me", headers={"X-API-Key": key})).status_code


@pytest.fixture
async def uncached_client(database: str, kafka: Any, sms_settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The API without its key cache: every request asks the partner copy."""
    async with serve(create_app(sms_settings(database, kafka, partner_cache_ttl_s=0))) as client:
        yield client


async def test_partner_events_drive_authentication(
    uncached_client: httpx.AsyncClient, publisher: EventPublisher
) -> None:
    sms_sender_client = uncached_client
    partner_id = uuid.uuid4()
    first, second = issue_api_key(), issue_api_key()
    assert await status_for(sms_sender_client, first.secret) == 401

    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerCreated(payload=state(partner_id, first.sha256, 1)))
    await eventually(lambda: _is(sms_sender_client, first.secret, 200))

    await publisher.publish(
        SUBSCRIPTION_EVENTS, PartnerKeyRotated(payload=state(partner_id, second.sha256, 2))
    )
    await eventually(lambda: _is(sms_sender_client, second.secret, 200))
    assert await status_for(sms_sender_client, first.secret) == 401

    # A replayed older event (at-least-once delivery) must not bring the revoked key back.
    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerCreated(payload=state(partner_id, first.sha256, 1)))
    suspended = state(partner_id, second.sha256, 3, PartnerStatus.SUSPENDED)
    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerStatusChanged(payload=suspended))
    await eventually(lambda: _is(sms_sender_client, second.secret, 401))
    assert await status_for(sms_sender_client, first.secret) == 401


async def test_a_cached_key_is_refused_within_the_cache_ttl(
    sms_sender_client: httpx.AsyncClient, publisher: EventPublisher
) -> None:
    partner_id = uuid.uuid4()
    key = issue_api_key()
    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerCreated(payload=state(partner_id, key.sha256, 1)))
    await eventually(lambda: _is(sms_sender_client, key.secret, 200))  # now cached as valid
    suspended = state(partner_id, key.sha256, 2, PartnerStatus.SUSPENDED)
    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerStatusChanged(payload=suspended))
    started = time.monotonic()
    # Event delivery (well under a second here) plus at most partner_cache_ttl_s (1 s).
    await eventually(lambda: _is(sms_sender_client, key.secret, 401), timeout_s=5)
    print(f"suspended key refused {time.monotonic() - started:.2f} s after the event was published")


async def test_undecodable_record_does_not_block_partner_updates(
    sms_sender_client: httpx.AsyncClient, publisher: EventPublisher
) -> None:
    partner_id = uuid.uuid4()
    key = issue_api_key()
    await publisher.publish_raw(SUBSCRIPTION_EVENTS.name, partner_id.bytes, b'{"type": "partner.created"}')
    await publisher.publish(SUBSCRIPTION_EVENTS, PartnerCreated(payload=state(partner_id, key.sha256, 1)))
    await eventually(lambda: _is(sms_sender_client, key.secret, 200))


async def _is(client: httpx.AsyncClient, key: str, status: int) -> bool:
    return await status_for(client, key) == status


class CountingPartners(PartnerCopyRepository):
    def __init__(self) -> None:
        self.lookups = 0

    async def find_by_key_hash(self, conn: Any, key_sha256: str) -> Any:
        self.lookups += 1
        return await super().find_by_key_hash(conn, key_sha256)


@pytest.mark.parametrize(("ttl_s", "lookups"), [(60.0, 1), (0.0, 50)])
async def test_concurrent_requests_with_an_uncached_key_share_one_lookup(
    pool: asyncpg.Pool, ttl_s: float, lookups: int
) -> None:
    """Under load an expired entry was looked up by every request in flight at that moment."""
    partners = CountingPartners()
    directory = PartnerDirectory(pool, partners, cache_ttl_s=ttl_s)
    key, partner_id = issue_api_key(), uuid.uuid4()
    assert await directory.apply(state(partner_id, key.sha256, 1))

    senders = await asyncio.gather(*(directory.sender(key.sha256) for _ in range(50)))

    assert {s.partner_id if s else None for s in senders} == {partner_id}
    assert partners.lookups == lookups


async def test_a_flood_of_unknown_keys_does_not_push_known_keys_out(pool: asyncpg.Pool) -> None:
    partners = CountingPartners()
    directory = PartnerDirectory(pool, partners, cache_ttl_s=60.0)
    key, partner_id = issue_api_key(), uuid.uuid4()
    assert await directory.apply(state(partner_id, key.sha256, 1))
    assert (await directory.sender(key.sha256)) is not None
    made_up = [issue_api_key().sha256 for _ in range(12_000)]  # more than the cache holds
    for sha256 in made_up:
        assert await directory.sender(sha256) is None
    looked_up = partners.lookups

    found = await directory.sender(key.sha256)
    assert found is not None
    assert found.partner_id == partner_id
    assert partners.lookups == looked_up  # still cached: no lookup
    assert await directory.sender(made_up[-1]) is None
    assert partners.lookups == looked_up  # a recent unknown key is not looked up again either
