from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.domain import normalize_recipient
from sms_sender.main import MIGRATIONS, create_app
from sms_sender.settings import SmsSenderSettings
from vas_common.auth import issue_api_key
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events import encode_event
from vas_common.events.subscription import (
    PartnerCreated,
    PartnerState,
    PartnerStatus,
    ProductCreated,
    ProductOwnership,
    SignaturePlacement,
    SubscriptionConfirmed,
    SubscriptionState,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import eventually, serve, service_settings_kwargs


@dataclass(frozen=True)
class TestPartner:
    id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


SettingsFactory = Callable[..., SmsSenderSettings]


@pytest.fixture
def sms_settings() -> SettingsFactory:
    """sms-sender settings for a test: its database, the broker, API role unless overridden."""

    def make(database: str, kafka: Any, **overrides: Any) -> SmsSenderSettings:
        return SmsSenderSettings(
            **{**service_settings_kwargs(database, kafka.bootstrap), "role": "api", **overrides}
        )

    return make


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's database with the sms-sender's schema, for tests below the API."""
    pool = await create_pool(database)
    await migrate(pool, [("common", COMMON_MIGRATIONS), ("sms-sender", MIGRATIONS)])
    yield pool
    await pool.close()


@pytest.fixture
async def sms_sender_client(
    database: str, kafka: Any, sms_settings: SettingsFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(sms_settings(database, kafka))) as client:
        yield client


PartnerFactory = Callable[..., Awaitable[TestPartner]]


@pytest.fixture
def make_partner(publisher: EventPublisher) -> Callable[[httpx.AsyncClient], PartnerFactory]:
    """Announce a partner on subscription.events, as the subscription service would, and wait
    until the given sms-sender accepts its key."""

    def bound(client: httpx.AsyncClient) -> PartnerFactory:
        async def make(
            signature: str | None = "【测试】",
            placement: SignaturePlacement = SignaturePlacement.PREPEND,
            rate_limit_per_s: int | None = None,
            access_number: str | None = "1069001",
        ) -> TestPartner:
            partner_id = uuid.uuid4()
            key = issue_api_key()
            state = PartnerState(
                partner_id=partner_id,
                name=f"cp-{partner_id.hex[:8]}",
                status=PartnerStatus.ACTIVE,
                api_key_id=key.key_id,
                api_key_sha256=key.sha256,
                revision=1,
                updated_at=datetime.now(UTC),
                signature=signature,
                signature_placement=placement,
                access_number=access_number,
                rate_limit_per_s=rate_limit_per_s,
            )
            await publisher.publish(SUBSCRIPTION_EVENTS, PartnerCreated(payload=state))

            async def known() -> bool:
                return (await client.get("/v1/me", headers={"X-API-Key": key.secret})).status_code == 200

            await eventually(known)
            return TestPartner(partner_id, key.secret)

        return make

    return bound


def _subscription_confirmed(msisdn: str, code: str, owner: uuid.UUID) -> SubscriptionConfirmed:
    return SubscriptionConfirmed(
        payload=SubscriptionState(
            subscription_id=uuid.uuid4(),
            msisdn=msisdn,
            product_code=code,
            partner_id=owner,
            status="active",
            channel="sms",
            occurred_at=datetime.now(UTC),
        )
    )


ProductFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def make_product(publisher: EventPublisher, database: str) -> ProductFactory:
    """A product of the partner with these active subscribers, announced on subscription.events
    as the subscription service would; returns its code once the sms-sender of the test's
    database knows them all. Content must name its product and goes only to its subscribers."""

    async def make(partner: TestPartner, subscribers: Sequence[str], code: str | None = None) -> str:
        code = code or f"T{uuid.uuid4().hex[:8].upper()}"
        msisdns = []
        for number in subscribers:
            msisdn = normalize_recipient(number)
            assert isinstance(msisdn, str), f"{number} is not a mobile number: {msisdn}"
            msisdns.append(msisdn)
        created = ProductCreated(
            payload=ProductOwnership(
                product_id=uuid.uuid4(),
                product_code=code,
                partner_id=partner.id,
                occurred_at=datetime.now(UTC),
            )
        )
        events = [created, *(_subscription_confirmed(m, code, partner.id) for m in msisdns)]
        await publisher.publish_many(
            [(SUBSCRIPTION_EVENTS.name, e.key().encode(), encode_event(e), []) for e in events]
        )
        conn = await asyncpg.connect(database)
        try:

            async def known() -> bool:
                owner = await conn.fetchval(
                    "SELECT partner_id FROM product_owners WHERE product_code = $1", code
                )
                subscribed = await conn.fetchval(
                    "SELECT count(*) FROM active_subscriptions WHERE product_code = $1 AND msisdn = ANY($2)",
                    code,
                    msisdns,
                )
                return bool(owner == partner.id and subscribed == len(set(msisdns)))

            await eventually(known)
        finally:
            await conn.close()
        return code

    return make
