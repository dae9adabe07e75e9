"""A batch of MO against the real database: handled in one transaction; when one MO fails,
the others are still handled one by one and only the failing one is handed back (for the
dead-letter topic); a redelivered MO is not answered twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from subscription.domain import Subscription, SubscriptionStatus
from subscription.main import create_app
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.subscriptions import SubscriptionService
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import DbConnection
from vas_common.events.sms_sender import MoMessage
from vas_devstack.pytest_plugin import serve, service_settings_kwargs

BROKEN_USER = "8613700000666"


class _BrokenForOneUser(SubscriptionRepository):
    async def of_user(
        self, conn: DbConnection, msisdn: str, statuses: Sequence[SubscriptionStatus], *, lock: bool = False
    ) -> list[Subscription]:
        if msisdn == BROKEN_USER:
            raise RuntimeError("this user's rows cannot be read")
        return await super().of_user(conn, msisdn, statuses, lock=lock)


@pytest.fixture
async def pool(database: str, kafka: Any) -> AsyncIterator[asyncpg.Pool]:
    app = create_app(SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap)))
    async with serve(app):
        yield app.state.runtime.db()


def mo(msisdn: str, text: str = "0000") -> MoMessage:
    return MoMessage(
        mo_id=uuid.uuid4(), msisdn=msisdn, destination="10690019", text=text, received_at=datetime.now(UTC)
    )


async def kinds(pool: asyncpg.Pool, msisdn: str) -> list[str]:
    rows = await pool.fetch("SELECT kind FROM order_records WHERE msisdn = $1 ORDER BY id", msisdn)
    return [r["kind"] for r in rows]


async def test_one_failing_mo_does_not_hold_up_the_rest_of_its_batch(pool: asyncpg.Pool) -> None:
    service = SubscriptionService(pool, ManualClock(), "Provider", subscriptions=_BrokenForOneUser())
    first, second = (f"86137{uuid.uuid4().int % 10**8:08d}" for _ in range(2))
    ok_a, broken, ok_b = mo(first), mo(BROKEN_USER), mo(second)

    failed = await service.handle_mo_batch([ok_a, broken, ok_b, ok_a])  # ok_a redelivered in the batch

    assert [(m.mo_id, type(e)) for m, e in failed] == [(broken.mo_id, RuntimeError)]
    assert await kinds(pool, first) == ["sms_in", "sms_out"]  # answered once
    assert await kinds(pool, second) == ["sms_in", "sms_out"]
    assert await kinds(pool, BROKEN_USER) == []  # nothing of it stays behind
    marked = await pool.fetch(
        "SELECT mo_id FROM processed_mo WHERE mo_id = ANY($1::uuid[])", [ok_a.mo_id, broken.mo_id, ok_b.mo_id]
    )
    assert {r["mo_id"] for r in marked} == {ok_a.mo_id, ok_b.mo_id}  # the failed one may come again

    assert await service.handle_mo_batch([ok_a, ok_b]) == []  # redelivered later: not answered again
    assert await kinds(pool, first) == ["sms_in", "sms_out"]
