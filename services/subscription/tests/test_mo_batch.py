"""A batch of MO against the real database: handled in one transaction; when one MO fails,
the others are still handled one by one and only the failing one is handed back (for the
dead-letter topic); a redelivered MO is not answered twice; a 0000 sees what the same user's
earlier MO in the batch changed; the ids of handled MO are forgotten after 7 days."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from subscription.domain import Subscription, SubscriptionStatus
from subscription.main import create_app
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.records import RecordsService
from subscription.service.subscriptions import SubscriptionService
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.db import DbConnection
from vas_common.events.sms_sender import MoMessage
from vas_devstack.pytest_plugin import serve, service_settings_kwargs

BROKEN_USER = "8613700000666"


class _BrokenForOneUser(SubscriptionRepository):
    async def of_users(
        self,
        conn: DbConnection,
        msisdns: Sequence[str],
        statuses: Sequence[SubscriptionStatus],
        *,
        lock: bool = False,
    ) -> dict[str, list[Subscription]]:
        if BROKEN_USER in msisdns:
            raise RuntimeError("this user's rows cannot be read")
        return await super().of_users(conn, msisdns, statuses, lock=lock)


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


async def active_products(pool: asyncpg.Pool, msisdn: str, *codes: str) -> list[uuid.UUID]:
    """The user subscribes to new products with these code prefixes; returns the subscription ids."""
    now = datetime.now(UTC)
    partner = uuid.uuid4()
    await pool.execute(
        "INSERT INTO partners (id, name, status, api_key_id, api_key_sha256, revision, updated_at)"
        " VALUES ($1, $2, 'active', 'k', $2, 1, now())",
        partner,
        f"p-{partner}",
    )
    subs = []
    for code in codes:
        product, sub = uuid.uuid4(), uuid.uuid4()
        await pool.execute(
            "INSERT INTO products (id, partner_id, code, name, billing_type, price_fen, status, created_at,"
            " updated_at) VALUES ($1, $2, $3, $3, 'monthly', 500, 'published', now(), now())",
            product,
            partner,
            f"{code}{uuid.uuid4().int % 10**6:06d}",
        )
        await pool.execute(
            "INSERT INTO subscriptions (id, msisdn, product_id, status, channel, requested_at, confirm_by,"
            " confirmed_at, updated_at) VALUES ($1, $2, $3, 'active', 'sms', $4, $4, $4, $4)",
            sub,
            msisdn,
            product,
            now,
        )
        now = now.replace(microsecond=0) + timedelta(seconds=1)  # requested in this order
        subs.append(sub)
    return subs


async def menu(pool: asyncpg.Pool, msisdn: str) -> list[uuid.UUID]:
    return list(await pool.fetchval("SELECT items FROM mo_menus WHERE msisdn = $1", msisdn) or [])


async def replies(pool: asyncpg.Pool, msisdn: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT detail->>'text' AS text FROM order_records WHERE msisdn = $1 AND kind = 'sms_out' ORDER BY id",
        msisdn,
    )
    return [r["text"] for r in rows]


async def test_a_list_in_a_batch_sees_what_the_users_earlier_mo_changed(pool: asyncpg.Pool) -> None:
    service = SubscriptionService(pool, ManualClock(), "Provider")
    only_lists, changes_first, none = (f"86137{uuid.uuid4().int % 10**8:08d}" for _ in range(3))
    a1, a2 = await active_products(pool, only_lists, "AA", "AB")
    b1, b2 = await active_products(pool, changes_first, "BA", "BB")

    failed = await service.handle_mo_batch(
        [
            mo(only_lists),
            mo(changes_first, "0000"),
            mo(none),
            mo(changes_first, "1"),  # cancels b1 from the menu just sent
            mo(changes_first, "0000"),
            mo(only_lists),
        ]
    )

    assert failed == []
    assert await menu(pool, only_lists) == [a1, a2]
    assert await menu(pool, changes_first) == [b2]
    assert await menu(pool, none) == []
    assert await kinds(pool, only_lists) == ["sms_in", "sms_out", "sms_in", "sms_out"]
    first, second = await replies(pool, only_lists)
    assert first == second
    assert await kinds(pool, none) == ["sms_in", "sms_out"]
    statuses = await pool.fetch("SELECT id, status FROM subscriptions WHERE msisdn = $1", changes_first)
    assert {r["id"]: r["status"] for r in statuses} == {b1: "cancelled", b2: "active"}


async def test_handled_mo_ids_are_forgotten_after_seven_days(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("subscription.service.records._MO_ID_BATCH", 2)  # several batches
    now = datetime.now(UTC)
    ages = {uuid.uuid4(): days for days in (8, 9, 30, 7 - 1 / 24, 0)}
    await pool.execute(
        "INSERT INTO processed_mo (mo_id, processed_at)"
        " SELECT id, $1::timestamptz - make_interval(secs => d * 86400)"
        " FROM unnest($2::uuid[], $3::float8[]) AS a(id, d)",
        now,
        list(ages),
        list(ages.values()),
    )

    result = await RecordsService(pool, ManualClock(), retention_months=6).apply_retention()

    assert result.processed_mo_deleted >= 3
    left = await pool.fetch("SELECT mo_id FROM processed_mo WHERE mo_id = ANY($1::uuid[])", list(ages))
    await pool.execute("DELETE FROM processed_mo WHERE mo_id = ANY($1::uuid[])", list(ages))
    assert {r["mo_id"] for r in left} == {mo_id for mo_id, days in ages.items() if days < 7}
