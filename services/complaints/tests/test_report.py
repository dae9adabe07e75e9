"""The quality report on the real database and broker, with exact figures from a constructed day
of complaints (the clock driven by hand through 15-16 December 2026, plain working days):
attainment per clock and by channel, category and partner, the runs it came from (CSV),
satisfaction, the complaint rate per 10,000 subscribers learnt from subscription.events (a
redelivered event and an older one arriving after a newer one), and the gauges on /metrics."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI

from complaints.complaint.service import ComplaintService
from complaints.main import create_app
from complaints.report import consumers as report_consumers
from complaints.settings import ComplaintsSettings
from complaints.sla.domain import EventKind
from vas_common.clock import ManualClock
from vas_common.events import encode_event
from vas_common.events.subscription import (
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionState,
)
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, problem_of, serve, service_settings_kwargs

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
WEB_FIRST_REPLY = "6f1c0e1a-0001-4000-8000-000000000003"
PHONE_FIRST_REPLY = "6f1c0e1a-0001-4000-8000-000000000002"
FIELDS = ("runs", "met", "met_late", "breached", "running", "paused", "attainment")


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-12-{text}").replace(tzinfo=SHANGHAI)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    at: datetime = datetime.min  # the scenario's time: what happens is logged at it

    def to(self, when: datetime) -> None:
        self.clock.advance(when - self.clock.now())
        self.at = when

    async def log(self, **fields: Any) -> str:
        """Logged at the clock's time exactly (the ManualClock runs on while requests take ms)."""
        body = {
            "category": "billing",
            "msisdn": "8613800001234",
            "summary": "投诉",
            "occurred_at": self.at.isoformat(),
            **fields,
        }
        response = await self.client.post("/v1/complaints", json=body, headers=OPERATOR)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def event(self, complaint_id: str, kind: str) -> None:
        response = await self.client.post(
            f"/v1/complaints/{complaint_id}/events",
            json={"kind": kind, "occurred_at": self.at.isoformat()},
            headers=OPERATOR,
        )
        assert response.status_code == 200, response.text

    async def satisfaction(self, complaint_id: str, score: int) -> None:
        """As the user's SMS answer would record it (no staff endpoint records a score)."""
        service = self.app.state.complaint_service
        assert isinstance(service, ComplaintService)
        await service.record(
            uuid.UUID(complaint_id),
            EventKind.SATISFACTION_RECORDED,
            "user",
            occurred_at=self.at,
            detail={"score": score},
        )

    async def tick(self) -> None:
        assert (await self.client.post("/v1/jobs/sla-tick", headers=OPERATOR)).status_code == 200

    async def report(self, start: datetime, end: datetime, **params: str) -> httpx.Response:
        query = {"from": start.isoformat(), "to": end.isoformat(), **params}
        return await self.client.get("/v1/reports/attainment", params=query, headers=OPERATOR)


@pytest.fixture
async def complaints(database: str, kafka: Any) -> AsyncIterator[Service]:
    clock = ManualClock()
    settings = ComplaintsSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        sla_tick_interval_s=3600,  # the test ticks
        sla_gauges_interval_s=0.2,
    )
    app = create_app(settings, clock=clock)
    async with serve(app) as client:
        yield Service(app, client, clock)


PA, PB = str(uuid.uuid4()), str(uuid.uuid4())


async def a_day_of_complaints(s: Service, products: tuple[str, str]) -> dict[str, str]:
    """Five complaints on Tuesday 15 December at 09:00 and what happened to them until
    Wednesday 12:00. Working days 09:00-18:00: 2 working days from Tuesday 09:00 end on
    Wednesday 18:00."""
    a, b = products
    s.to(at("15T09:00"))
    made = {
        "c1": await s.log(channel="web", partner_id=PA, product_code=a),
        "c2": await s.log(channel="web", category="content", partner_id=PB, product_code=b),
        "c3": await s.log(channel="phone", partner_id=PA, product_code=a),
        "c4": await s.log(channel="web", category="feedback"),
        "c5": await s.log(
            channel="operator", partner_id=PA, product_code=a, operator_deadline=at("16T09:00").isoformat()
        ),
    }
    s.to(at("15T09:10"))
    await s.event(made["c3"], "solution_offered")  # solution (15 min) and first reply (30 min) met
    s.to(at("15T12:00"))
    await s.event(made["c1"], "replied")  # first reply (4 h) met
    s.to(at("15T13:30"))
    await s.tick()  # c2 and c4: first reply breached at 13:00
    s.to(at("15T14:00"))
    await s.event(made["c2"], "replied")  # met late
    s.to(at("15T15:00"))
    await s.event(made["c4"], "waiting_on_user")  # the pausable clocks stop counting
    s.to(at("15T17:00"))
    await s.event(made["c5"], "resolved")  # before the operator's deadline
    s.to(at("15T17:30"))
    await s.satisfaction(made["c5"], 2)
    s.to(at("16T11:00"))
    await s.event(made["c1"], "resolved")
    s.to(at("16T11:30"))
    await s.satisfaction(made["c1"], 5)
    s.to(at("16T12:00"))
    await s.tick()  # c3: the follow-up run begun at its 09:10 contact breached at 09:10 today
    return made


def tally(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry[f] for f in FIELDS)


async def test_attainment_per_clock_channel_category_and_partner(complaints: Service) -> None:
    made = await a_day_of_complaints(complaints, ("RA" + uuid.uuid4().hex[:6], "RB" + uuid.uuid4().hex[:6]))
    response = await complaints.report(at("15T00:00"), at("17T00:00"))
    assert response.status_code == 200, response.text
    report = response.json()
    clocks = {c["clock"]: c for c in report["clocks"]}
    # (runs, met, met_late, breached, running, paused, attainment), as of Wednesday 12:00
    assert {k: tally(c["total"]) for k, c in clocks.items()} == {
        "solution": (1, 1, 0, 0, 0, 0, 1.0),  # c3
        "first_reply": (4, 2, 1, 1, 0, 0, 0.5),  # c1, c3 met; c2 late; c4 breached
        "answered": (1, 0, 0, 0, 0, 1, None),  # c4 waits on the user; the others are due on the 31st
        # c1 and c5 resolved; c2, c3 due today 18:00; c4 paused
        "closure": (5, 2, 0, 0, 2, 1, 1.0),
        "feedback_reply": (1, 0, 0, 0, 0, 1, None),  # c4 paused
        # c1: two runs met (a reply, then resolved); c2: run met by the reply, next due 14:00;
        # c3: run met by the solution, next breached at 09:10; c4 paused; c5 resolved
        "follow_up": (8, 5, 0, 1, 1, 1, 0.8333),
        "operator_deadline": (1, 1, 0, 0, 0, 0, 1.0),  # c5
    }
    first_reply = clocks["first_reply"]
    assert {e["channel"]: tally(e) for e in first_reply["by_channel"]} == {
        "web": (3, 1, 1, 1, 0, 0, 0.3333),
        "phone": (1, 1, 0, 0, 0, 0, 1.0),
    }
    assert {e["category"]: tally(e) for e in first_reply["by_category"]} == {
        "billing": (2, 2, 0, 0, 0, 0, 1.0),
        "content": (1, 0, 1, 0, 0, 0, 0.0),
        "feedback": (1, 0, 0, 1, 0, 0, 0.0),
    }
    assert {e["partner_id"]: tally(e) for e in first_reply["by_partner"]} == {
        PA: (2, 2, 0, 0, 0, 0, 1.0),
        PB: (1, 0, 1, 0, 0, 0, 0.0),
        None: (1, 0, 0, 1, 0, 0, 0.0),
    }
    # The breaches the scheduler raised agree: c2 and c4's first reply, c3's follow-up.
    assert {k: c["breach_alerts"] for k, c in clocks.items() if c["breach_alerts"]} == {
        "first_reply": 2,
        "follow_up": 1,
    }
    # The target each run had, and the rule in words.
    assert first_reply["total"]["targets"] == [
        {"policy_id": WEB_FIRST_REPLY, "runs": 3},
        {"policy_id": PHONE_FIRST_REPLY, "runs": 1},
    ]
    rules = {p["id"]: p["rule"] for p in report["policies"]}
    assert rules[WEB_FIRST_REPLY] == "web complaints: a first reply within 4 h of calendar time (7x24)"
    assert rules[PHONE_FIRST_REPLY] == (
        "phone complaints not solved on the call: a first reply within 30 min of calendar time (7x24)"
    )
    assert "holds its due time" in report["rules"]["period"]
    assert report["as_of"].startswith("2026-12-16T12:00")
    assert report["satisfaction"] == [
        {
            "category": "billing",
            "count": 2,
            "average": 3.5,
            "scores": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1},
        }
    ]

    # The data it came from: one line a run, from which the figures follow again.
    assert report["data"]["runs"] == 21
    exported = await complaints.client.get(report["data"]["csv"], headers=OPERATOR)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert len(rows) == 21
    late = next(r for r in rows if r["complaint_id"] == made["c2"] and r["clock"] == "first_reply")
    assert (late["due_at"], late["stopped_at"], late["outcome"], late["policy_id"]) == (
        "2026-12-15T13:00:00+08:00",
        "2026-12-15T14:00:00+08:00",
        "met_late",
        WEB_FIRST_REPLY,
    )
    outcomes = [r["outcome"] for r in rows if r["clock"] == "follow_up"]
    assert sorted(outcomes) == sorted(["met"] * 5 + ["breached", "running", "paused"])
    superseded = [r for r in rows if r["superseded"] == "true"]
    assert {(r["complaint_id"], r["stopped_at"]) for r in superseded} == {
        (made["c1"], "2026-12-15T12:00:00+08:00"),
        (made["c2"], "2026-12-15T14:00:00+08:00"),
        (made["c3"], "2026-12-15T09:10:00+08:00"),
    }

    # A period holds the runs due in it: Wednesday alone has no first reply or solution, and
    # c4's follow-up, paused without a due time, belongs to Tuesday, when it started.
    wednesday = (await complaints.report(at("16T00:00"), at("17T00:00"))).json()
    clocks = {c["clock"]: c for c in wednesday["clocks"]}
    assert set(clocks) == {"closure", "follow_up", "operator_deadline"}
    assert tally(clocks["follow_up"]["total"]) == (7, 5, 0, 1, 1, 0, 0.8333)
    assert wednesday["satisfaction"][0]["count"] == 1  # c1's score, recorded on Wednesday

    problem_of(await complaints.report(at("16T00:00"), at("16T00:00")), 422, "invalid_period")
    problem_of(await complaints.report(at("16T00:00"), at("15T00:00")), 422, "invalid_period")


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_open_complaints_by_sla_state_and_the_scheduler_on_metrics(complaints: Service) -> None:
    await a_day_of_complaints(complaints, ("RA" + uuid.uuid4().hex[:6], "RB" + uuid.uuid4().hex[:6]))
    # Open as of Wednesday 12:00: c2 (closure and follow-up running), c3 (closure running,
    # follow-up breached), c4 waiting on the user (first reply breached, the rest paused).
    expected_clocks = {
        ("closure", "running"): 2,
        ("closure", "paused"): 1,
        ("follow_up", "running"): 1,
        ("follow_up", "breached"): 1,
        ("follow_up", "paused"): 1,
        ("first_reply", "breached"): 1,
        ("first_reply", "running"): 0,
        ("answered", "paused"): 1,
        ("feedback_reply", "paused"): 1,
        ("solution", "running"): 0,
    }

    async def gauges() -> str | None:
        text = (await complaints.client.get("/metrics")).text
        seen = {
            key: metric(text, "complaints_open_clocks", clock=key[0], state=key[1]) for key in expected_clocks
        }
        return text if seen == expected_clocks else None

    text = await eventually(gauges)
    assert metric(text, "complaints_open", sla_state="breached") == 2  # c3, c4
    assert metric(text, "complaints_open", sla_state="running") == 1  # c2
    assert metric(text, "complaints_open", sla_state="paused") == 0
    assert metric(text, "complaints_sla_alerts_total", clock="first_reply", alert="breached") == 2
    assert metric(text, "complaints_sla_alerts_total", clock="follow_up", alert="breached") == 1
    ticks = metric(text, "complaints_scheduler_tick_seconds_count")
    assert ticks is not None
    assert ticks >= 2
    assert metric(text, "complaints_scheduler_tick_seconds_bucket", le="+Inf") == ticks
    assert (metric(text, "complaints_sla_gauges_refresh_seconds_count") or 0) >= 1


def change(
    kind: type[SubscriptionConfirmed | SubscriptionCancelled], sub: str, msisdn: str, code: str, when: str
) -> Any:
    status = "active" if kind is SubscriptionConfirmed else "cancelled"
    return kind(
        payload=SubscriptionState(
            subscription_id=uuid.UUID(sub),
            msisdn=msisdn,
            product_code=code,
            partner_id=uuid.UUID(PA),
            status=status,
            channel="sms",
            occurred_at=at(when),
        )
    )


async def test_complaint_rate_per_10000_subscribers_from_subscription_events(
    complaints: Service, kafka: Any, database: str
) -> None:
    a, b = "RA" + uuid.uuid4().hex[:6].upper(), "RB" + uuid.uuid4().hex[:6].upper()
    await a_day_of_complaints(complaints, (a, b))  # a: c1, c3, c5; b: c2 (all on Tuesday)
    s = {name: str(uuid.uuid4()) for name in ("s1", "s2", "s3", "s5", "s6")}
    twice = change(SubscriptionConfirmed, s["s5"], "8613900000005", b, "01T10:00")
    published = [
        change(SubscriptionConfirmed, s["s1"], "8613900000001", a, "01T10:00"),
        change(SubscriptionConfirmed, s["s2"], "8613900000002", a, "10T10:00"),
        change(SubscriptionCancelled, s["s2"], "8613900000002", a, "14T10:00"),  # gone before Tuesday
        change(SubscriptionConfirmed, s["s3"], "8613900000003", a, "16T10:00"),  # came on Wednesday
        twice,
        twice,  # delivered again
        # the cancellation arrives before the older confirmation: s6 was a subscriber until
        # Tuesday 12:00, not since
        change(SubscriptionCancelled, s["s6"], "8613900000006", b, "15T12:00"),
        change(SubscriptionConfirmed, s["s6"], "8613900000006", b, "02T10:00"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait("subscription.events", encode_event(event), key=event.key().encode())
            for event in published
        ]
    finally:
        await producer.stop()

    # Handled once the report's group has committed past each record (the topic also carries
    # other tests' events, so a count of records consumed would not say whether ours were).
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=report_consumers.GROUP_ID)
    await reader.start()
    try:

        async def all_consumed() -> bool:
            for record in sent:
                committed = await reader.committed(TopicPartition(record.topic, record.partition))
                if committed is None or committed <= record.offset:
                    return False
            return True

        await eventually(all_consumed)
    finally:
        await reader.stop()
    conn = await asyncpg.connect(database)
    try:
        kept = await conn.fetchval(
            "SELECT count(*) FROM subscription_changes WHERE product_code = ANY($1::text[])", [a, b]
        )
    finally:
        await conn.close()
    assert kept == 7  # the redelivered confirmation is kept once

    async def rates(start: str, end: str) -> dict[str, tuple[int, int, float | None]]:
        response = await complaints.client.get(
            "/v1/reports/complaint-rate",
            params={"from": at(start).isoformat(), "to": at(end).isoformat()},
            headers=OPERATOR,
        )
        assert response.status_code == 200, response.text
        return {
            p["product_code"]: (p["complaints"], p["subscribers"], p["per_10k_subscribers"])
            for p in response.json()["products"]
            if p["product_code"] in (a, b)
        }

    # Tuesday and Wednesday: a has s1 and s3 (s2 left on the 14th), b has s5 and s6.
    assert await rates("15T00:00", "17T00:00") == {a: (3, 2, 15000.0), b: (1, 2, 5000.0)}
    # Wednesday alone: no complaints; s6 is no longer a subscriber (the late confirmation did
    # not bring it back).
    assert await rates("16T00:00", "17T00:00") == {a: (0, 2, 0.0), b: (0, 1, 0.0)}
    # The morning of the 1st, before the first subscription: no products at all.
    assert await rates("01T00:00", "01T09:00") == {}
