"""Against real PostgreSQL: the reads of many send requests are one statement (the API batches
the requests that arrive together), and each request gets its own answer back: its stored
response, its opted-out and subscribed numbers, its partner's callback secret, the owner of its
product."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from sms_sender.repository.messages import MessageRepository, SendCheck

A, B = uuid.uuid4(), uuid.uuid4()
WINDOW = timedelta(hours=24)


async def test_each_request_gets_its_own_checks(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO idempotency_keys (partner_id, key, request_sha256, response)"
            " VALUES ($1, 'k1', 'sha-a', '{\"n\": 1}'), ($2, 'k1', 'sha-b', '{\"n\": 2}')",
            A,
            B,
        )
        await conn.execute(
            "INSERT INTO idempotency_keys (partner_id, key, request_sha256, response, created_at)"
            " VALUES ($1, 'old', 'sha-old', '{}', now() - interval '2 days')",
            A,
        )
        await conn.execute("INSERT INTO opt_outs (msisdn) VALUES ('13800000001'), ('13800000003')")
        await conn.execute(
            "INSERT INTO active_subscriptions (msisdn, product_code)"
            " VALUES ('13800000002', 'P1'), ('13800000003', 'P2')"
        )
        await conn.execute("INSERT INTO callback_secrets (partner_id, secret) VALUES ($1, 's')", B)
        await conn.execute("INSERT INTO product_owners (product_code, partner_id) VALUES ('P2', $1)", B)
        numbers = ["13800000001", "13800000002", "13800000003"]
        results = await MessageRepository().send_checks(
            conn,
            [
                SendCheck(A, "k1", screen=numbers, product_code="P1", callback=True),
                SendCheck(B, "k1", screen=[], product_code=None, callback=True),
                SendCheck(A, "old", screen=numbers, product_code=None, callback=False),
                SendCheck(B, None, screen=numbers, product_code="P2", callback=False),
                SendCheck(A, "new", screen=[], product_code=None, callback=True),
            ],
            datetime.now(UTC) - WINDOW,
        )

    assert [r.replay for r in results] == [("sha-a", {"n": 1}), ("sha-b", {"n": 2}), None, None, None]
    assert [r.opted_out for r in results] == [
        {"13800000001", "13800000003"},
        set(),
        {"13800000001", "13800000003"},
        {"13800000001", "13800000003"},
        set(),
    ]
    assert [r.subscribed for r in results] == [{"13800000002"}, set(), set(), {"13800000003"}, set()]
    assert [r.has_callback_secret for r in results] == [False, True, False, False, False]
    assert [r.product_owner for r in results] == [None, None, None, B, None]
