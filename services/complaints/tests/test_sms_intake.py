"""SMS to the complaints service on the real database: a keyword opens a complaint, a reply to
the complaints number scores or adds to the user's latest complaint, and a redelivered MO (the
topic is at-least-once) changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from complaints.complaint.service import ComplaintService
from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from complaints.sla.domain import EventKind
from vas_common.clock import ManualClock
from vas_common.events.sms_sender import MoMessage
from vas_devstack.pytest_plugin import serve, service_settings_kwargs

ACCESS = "10690000"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def service(
    database: str, kafka: Any, clock: ManualClock
) -> AsyncIterator[tuple[ComplaintService, asyncpg.Pool]]:
    app = create_app(ComplaintsSettings(**service_settings_kwargs(database, kafka.bootstrap)), clock=clock)
    async with serve(app):
        yield app.state.complaint_service, app.state.runtime.db()


def mo(msisdn: str, text: str, destination: str = ACCESS) -> MoMessage:
    return MoMessage(
        mo_id=uuid.uuid4(), msisdn=msisdn, destination=destination, text=text, received_at=datetime.now(UTC)
    )


async def test_a_redelivered_sms_opens_one_complaint_and_scores_once(
    service: tuple[ComplaintService, asyncpg.Pool],
) -> None:
    complaints, pool = service
    user = "8613780000001"
    complaint = mo(user, "TS 彩铃被乱扣费")
    for _ in range(2):
        await complaints.handle_mo(complaint)
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE msisdn = $1", user) == 1
    [complaint_id] = [r["id"] for r in await pool.fetch("SELECT id FROM complaints WHERE msisdn = $1", user)]
    assert await pool.fetchval("SELECT summary FROM complaints WHERE id = $1", complaint_id) == "彩铃被乱扣费"
    acks = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'sms.send-requests'")
    assert acks <= 1  # the relay may have sent it already; never two

    await complaints.record(complaint_id, EventKind.RESOLVED, "agent")
    score = mo(user, "1", destination=ACCESS + "9")
    for _ in range(2):
        await complaints.handle_mo(score)
    kinds = [r["kind"] for r in await pool.fetch(
        "SELECT kind FROM complaint_events WHERE complaint_id = $1 ORDER BY occurred_at, recorded_at", complaint_id
    )]  # fmt: skip
    assert kinds == ["created", "resolved", "satisfaction_recorded", "reopened"]
    assert (
        await pool.fetchval("SELECT (status, satisfaction)::text FROM complaints WHERE id = $1", complaint_id)
        == "(open,1)"
    )

    words = mo(user, "我昨天又被扣了", destination=ACCESS + "9")
    await complaints.handle_mo(words)
    note = await pool.fetchval(
        "SELECT note FROM complaint_events WHERE complaint_id = $1 AND kind = 'user_replied'", complaint_id
    )
    assert note == "我昨天又被扣了"


async def test_other_sms_are_not_complaints(service: tuple[ComplaintService, asyncpg.Pool]) -> None:
    complaints, pool = service
    for text in ("0000", "TSNEWS", "Y", "我要投诉"):
        await complaints.handle_mo(mo("8613780000002", text))
    await complaints.handle_mo(mo("8613780000003", "5", destination=ACCESS + "9"))  # no complaint to score
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE msisdn LIKE '861378000000%'") == 0


async def test_a_resolution_nobody_scores_is_escalated_once(
    service: tuple[ComplaintService, asyncpg.Pool], clock: ManualClock
) -> None:
    complaints, pool = service
    await complaints.handle_mo(mo("8613780000004", "投诉 流量包没生效"))
    complaint_id = await pool.fetchval("SELECT id FROM complaints WHERE msisdn = '8613780000004'")
    await complaints.record(complaint_id, EventKind.RESOLVED, "agent")
    scored = mo("8613780000005", "投诉 同样的问题")
    await complaints.handle_mo(scored)
    scored_id = await pool.fetchval("SELECT id FROM complaints WHERE msisdn = '8613780000005'")
    await complaints.record(scored_id, EventKind.RESOLVED, "agent")
    await complaints.handle_mo(mo("8613780000005", "4", destination=ACCESS + "9"))

    wait = timedelta(hours=72)
    assert await complaints.escalate_unrated(wait) == 0  # not yet
    clock.advance(wait + timedelta(minutes=1))
    escalated = await complaints.escalate_unrated(wait)
    assert escalated >= 1
    assert await complaints.escalate_unrated(wait) == 0  # once
    kinds = await pool.fetch(
        "SELECT complaint_id, kind FROM complaint_events WHERE kind = 'escalated' AND complaint_id = ANY($1::uuid[])",
        [complaint_id, scored_id],
    )
    assert [(r["complaint_id"], r["kind"]) for r in kinds] == [(complaint_id, "escalated")]
