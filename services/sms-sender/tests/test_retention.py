"""Retention in the sms-sender against the real database: messages, segments, status events and
callback deliveries older than 6 Asia/Shanghai months are gone after the job, except those of a
held user, while any holder remains (legal holds from subscription.events, complaints' dispute
holds from complaint.events); Idempotency-Keys go after their 24 hours; the job takes "now" from
the service clock."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.domain import NewMessage
from sms_sender.main import MIGRATIONS, create_app
from sms_sender.repository.dispatch import DispatchRepository, SegmentOutcome
from sms_sender.repository.messages import MessageRepository
from sms_sender.repository.partitions import PartitionRepository
from sms_sender.repository.statuses import StatusEventRow, StatusRepository
from sms_sender.service.retention import RETENTION_TZ, retention_cutoff
from sms_sender.settings import SmsSenderSettings
from vas_common.clock import ManualClock
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events.complaints import HoldChange, HoldPlaced, HoldReleased
from vas_common.events.subscription import LegalHold, LegalHoldChanged
from vas_common.events.topics import COMPLAINT_EVENTS, SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
RECORDS = ("messages", "segments", "status_events", "callback_deliveries")


@dataclass
class Env:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    clock: ManualClock


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the module's own: the API also stores the system messages it reads from
    sms.send-requests, and other tests' leftovers there put their numbers' concatenation
    references into this test's tables (a foreign concat_refs row failed CI once)."""
    return own_broker


@pytest.fixture
async def env(database: str, kafka: Any) -> AsyncIterator[Env]:
    clock = ManualClock()
    settings = SmsSenderSettings(**{**service_settings_kwargs(database, kafka.bootstrap), "role": "api"})
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        yield Env(client, app.state.runtime.db(), clock)


def msisdn() -> str:
    return f"86135{uuid.uuid4().int % 10**8:08d}"


async def seed_message(env: Env, recipient: str, accepted_at: datetime) -> uuid.UUID:
    """A delivered message with its segment and status event, as the send path writes them."""
    message_id = uuid.uuid4()
    async with env.pool.acquire() as conn:
        await MessageRepository().insert_messages(
            conn,
            [
                NewMessage(
                    id=message_id,
                    accepted_at=accepted_at,
                    partner_id=None,
                    recipient=recipient,
                    source_addr="106900001",
                    content="内容",
                    category="notice",
                    product_code=None,
                    client_ref=None,
                    callback_url=None,
                    notify_submitted=False,
                    encoding="ucs2",
                    segments_total=1,
                )
            ],
        )
        await DispatchRepository().record_segments(
            conn,
            [
                SegmentOutcome(
                    message_id, accepted_at, 1, "submitted", f"smsc-{message_id}", 0, 1, accepted_at
                )
            ],
        )
        body = json.dumps({"id": str(message_id)})
        await StatusRepository().insert_status_events(
            conn, [StatusEventRow(accepted_at, None, message_id, "delivered", body, body.encode(), {})]
        )
        # Its callback could not be delivered: the partner lists it under /v1/callbacks/dead.
        await conn.execute(
            "INSERT INTO callback_deliveries (event_id, partner_id, message_id, url, body, state, created_at)"
            " VALUES ($1, $2, $3, 'https://cp.example/hook', $4, 'dead', $5)",
            uuid.uuid4(),
            uuid.uuid4(),
            message_id,
            body,
            accepted_at,
        )
    return message_id


async def hold(publisher: EventPublisher, env: Env, user: str, held: bool) -> None:
    """Announce a legal hold as the subscription service does, and wait until it is stored."""
    event = LegalHoldChanged(
        payload=LegalHold(msisdn=user, held=held, reason="投诉", occurred_at=env.clock.now())
    )
    await publisher.publish(SUBSCRIPTION_EVENTS, event)

    async def stored() -> bool:
        found = await env.pool.fetchval("SELECT count(*) FROM record_holds WHERE msisdn = $1", user)
        return bool(found) is held

    await eventually(stored)


async def remaining(env: Env, table: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    column = "id" if table == "messages" else "message_id"
    rows = await env.pool.fetch(f"SELECT {column} FROM {table} WHERE {column} = ANY($1::uuid[])", ids)  # noqa: S608
    return {r[column] for r in rows}


async def test_records_older_than_six_months_go_except_held_users(
    env: Env, publisher: EventPublisher
) -> None:
    now = env.clock.now()
    cutoff = retention_cutoff(now, 6)
    plain, held = msisdn(), msisdn()
    await hold(publisher, env, held, True)

    months_8 = cutoff - timedelta(days=45)
    months_9 = cutoff - timedelta(days=75)
    async with env.pool.acquire() as conn:
        await PartitionRepository().ensure_partitions(conn, months_8, months_ahead=1)  # three old months
    old_partition = f"{months_8.astimezone(RETENTION_TZ):%Y%m}"  # UTC and Shanghai month agree here
    ids = {
        "plain_8": await seed_message(env, plain, months_8),  # alone in its month: partitions dropped
        "held_9": await seed_message(env, held, months_9),  # its month's partitions are kept
        "plain_9": await seed_message(env, plain, months_9 + timedelta(hours=1)),  # deleted from them
        "plain_default": await seed_message(env, plain, cutoff - timedelta(days=300)),  # DEFAULT partition
        "held_default": await seed_message(env, held, cutoff - timedelta(days=300)),
        "plain_before": await seed_message(env, plain, cutoff - timedelta(minutes=1)),  # just too old
        "plain_at": await seed_message(env, plain, cutoff),  # exactly 6 months: kept
        "plain_now": await seed_message(env, plain, now),
    }
    everything = list(ids.values())

    await env.pool.execute(
        "INSERT INTO concat_refs (recipient, next_ref, used_at) VALUES ('8613700000001', 7, $1),"
        " ('8613700000002', 9, $2)",
        cutoff - timedelta(minutes=1),
        now,
    )  # reference counters: one idle since before the horizon, one in use

    refused = await env.client.post("/v1/jobs/retention")
    assert refused.status_code == 401
    job = await env.client.post("/v1/jobs/retention", headers=OPERATOR)
    assert job.status_code == 200, job.text
    result = job.json()
    assert datetime.fromisoformat(result["cutoff"]) == cutoff
    for table in ("messages", "segments", "status_events"):
        assert f"{table}_{old_partition}" in result["partitions_dropped"]
        assert await env.pool.fetchval("SELECT to_regclass($1)", f"{table}_{old_partition}") is None
    assert result["rows_deleted"]["messages"] == 3  # plain_9, plain_default, plain_before
    assert result["rows_deleted"]["callback_deliveries"] == 4  # not partitioned: plain_8's too
    assert result["rows_deleted"]["concat_refs"] == 1
    assert await env.pool.fetchval("SELECT array_agg(recipient) FROM concat_refs") == ["8613700000002"]

    kept = {ids[name] for name in ("held_9", "held_default", "plain_at", "plain_now")}
    for table in RECORDS:
        assert await remaining(env, table, everything) == kept, table

    again = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert again["affected"] == 0
    assert again["partitions_dropped"] == []

    # The hold is released and seven months pass on the service's clock: the rest goes too.
    await hold(publisher, env, held, False)
    env.clock.advance(timedelta(days=7 * 31))
    later = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()
    assert datetime.fromisoformat(later["cutoff"]) > now
    for table in RECORDS:
        assert await remaining(env, table, everything) == set(), table


async def test_idempotency_keys_go_after_their_24_hours(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sms_sender.service.retention._KEY_BATCH", 2)  # several batches
    partner, now = uuid.uuid4(), env.clock.now()
    ages = {"k-25h": 25, "k-30h": 30, "k-48h": 48, "k-24h-1m": 24.0 - 1 / 60, "k-1h": 1}
    await env.pool.execute(
        "INSERT INTO idempotency_keys (partner_id, key, request_sha256, response, created_at)"
        " SELECT $1, k, 'sha', '{}', $2::timestamptz - make_interval(secs => h * 3600)"
        " FROM unnest($3::text[], $4::float8[]) AS a(k, h)",
        partner,
        now,
        list(ages),
        list(ages.values()),
    )

    job = (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).json()

    assert job["rows_deleted"]["idempotency_keys"] >= 3
    left = await env.pool.fetch("SELECT key FROM idempotency_keys WHERE partner_id = $1", partner)
    await env.pool.execute(
        "DELETE FROM idempotency_keys WHERE partner_id = $1", partner
    )  # ageing, not for others
    assert {r["key"] for r in left} == {"k-24h-1m", "k-1h"}


async def holders_of(env: Env, user: str) -> list[str]:
    rows = await env.pool.fetch("SELECT holder FROM record_holds WHERE msisdn = $1 ORDER BY holder", user)
    return [r["holder"] for r in rows]


async def test_records_stay_while_any_holder_remains(env: Env, publisher: EventPublisher) -> None:
    """A legal hold (subscription.events) and two complaints' dispute holds (complaint.events) on
    one number: releasing one never lifts another; each event applied twice changes nothing."""
    user, first, second = msisdn(), f"complaint:{uuid.uuid4()}", f"complaint:{uuid.uuid4()}"
    old = await seed_message(env, user, env.clock.now())
    env.clock.advance(timedelta(days=7 * 31))  # the message is past the 6 months

    # Announced before holders existed: no `holder` in the payload, read as the one legal hold.
    legacy = json.loads(
        LegalHoldChanged(
            payload=LegalHold(msisdn=user, held=True, reason="诉讼", occurred_at=env.clock.now())
        ).model_dump_json()
    )
    del legacy["payload"]["holder"]
    await publisher.publish_raw(SUBSCRIPTION_EVENTS.name, user.encode(), json.dumps(legacy).encode())

    def change(event: type[HoldPlaced | HoldReleased], holder: str) -> HoldPlaced | HoldReleased:
        return event(
            payload=HoldChange(msisdn=user, holder=holder, reason="投诉处理中", occurred_at=env.clock.now())
        )

    for event in (
        change(HoldPlaced, first),
        change(HoldPlaced, first),  # a redelivery
        change(HoldReleased, f"complaint:{uuid.uuid4()}"),  # never placed: nothing happens
        change(HoldPlaced, second),
    ):
        await publisher.publish(COMPLAINT_EVENTS, event)

    async def three() -> bool:
        return await holders_of(env, user) == sorted(["legal", first, second])

    await eventually(three)

    async def kept_after_retention() -> set[uuid.UUID]:
        assert (await env.client.post("/v1/jobs/retention", headers=OPERATOR)).status_code == 200
        return await remaining(env, "messages", [old])

    assert await kept_after_retention() == {old}

    # The legal hold is released: the complaints' stay.
    released = LegalHoldChanged(payload=LegalHold(msisdn=user, held=False, occurred_at=env.clock.now()))
    await publisher.publish(SUBSCRIPTION_EVENTS, released)

    async def two() -> bool:
        return await holders_of(env, user) == sorted([first, second])

    await eventually(two)
    await publisher.publish(COMPLAINT_EVENTS, change(HoldReleased, first))
    await publisher.publish(COMPLAINT_EVENTS, change(HoldReleased, first))

    async def only_second() -> bool:
        return await holders_of(env, user) == [second]

    await eventually(only_second)
    assert await kept_after_retention() == {old}

    await publisher.publish(COMPLAINT_EVENTS, change(HoldReleased, second))

    async def none() -> bool:
        return await holders_of(env, user) == []

    await eventually(none)
    assert await kept_after_retention() == set()
    for table in RECORDS:
        assert await remaining(env, table, [old]) == set(), table


async def test_the_migration_keeps_earlier_holds_as_the_holder_legal(database: str, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name < "010":
            shutil.copy(path, before / path.name)
    pool = await create_pool(database)
    try:
        await migrate(pool, [("common", COMMON_MIGRATIONS), ("sms-sender", before)])
        at = await pool.fetchval(
            "INSERT INTO legal_holds (msisdn, updated_at) VALUES ('8613500000001', now()) RETURNING updated_at"
        )
        applied = await migrate(pool, [("common", COMMON_MIGRATIONS), ("sms-sender", MIGRATIONS)])
        assert applied[0] == "sms-sender/010_record_holds"  # and any later ones
        rows = await pool.fetch("SELECT msisdn, holder, reason, placed_at FROM record_holds")
        assert [tuple(r) for r in rows] == [("8613500000001", "legal", None, at)]
        assert await pool.fetchval("SELECT to_regclass('legal_holds')") is None
    finally:
        await pool.close()
