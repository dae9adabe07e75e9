"""Service quality, the later promises, on the real database and broker: registration success per
order and unsubscribing (time to effect, nothing after it) from subscription.events and sms.mo,
content review and records kept as the data allows, and the SERVQUAL view (gap 3 from the report,
gap 4 from the status page's incidents, gap 5 from the satisfaction replies in complaint.events).
Each batch is also handed over twice: no figure changes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from incident.main import create_app
from incident.quality.domain import SHANGHAI, ChargeSeen, NoticeGiven, OrderChange, SatisfactionReply
from incident.quality.service import Consumed, QualityService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.events import encode_event
from vas_common.events.complaints import ComplaintState, ComplaintUpdated
from vas_common.events.sms_sender import (
    Category,
    ContentRejected,
    ContentRejection,
    MessageState,
    MessageStatus,
    MoMessage,
    MoReceived,
)
from vas_common.events.subscription import (
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionRequested,
    SubscriptionState,
)
from vas_common.staff import Role
from vas_devstack.pytest_plugin import eventually, problem_of, serve, service_settings_kwargs

OPERATOR = {"Authorization": "Bearer test-operator-token"}
Running = Any  # conftest.RunningIncident

T0 = datetime(2031, 8, 12, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, far from the other tests' times
USER = "8613900001111"
ALL_OUT = "8613900004444"


@pytest.fixture
async def quiet(database: str, kafka: Any) -> AsyncIterator[QualityService]:
    settings = IncidentSettings(
        **{**service_settings_kwargs(database, kafka.bootstrap), "consumers_enabled": False}
    )
    app = create_app(settings, ManualClock())
    async with serve(app):
        yield app.state.quality_service


def _order(kind: str, sub: uuid.UUID, at: datetime, msisdn: str = USER, product: str = "NEWS") -> OrderChange:
    return OrderChange(kind, sub, msisdn, product, at)


def _message(at: datetime, product: str | None = "NEWS", recipient: str = USER) -> MessageState:
    return MessageState(
        message_id=uuid.uuid4(),
        partner_id=None,
        recipient=recipient,
        status=MessageStatus.SUBMITTED,
        segments_total=1,
        segments=[],
        accepted_at=at,
        submitted_at=at + timedelta(seconds=0.5),
        product_code=product,
    )


def _mo(text: str, at: datetime, msisdn: str = USER) -> MoMessage:
    return MoMessage(mo_id=uuid.uuid4(), msisdn=msisdn, destination="10655", text=text, received_at=at)


async def _twice(quality: QualityService, group: str, topic: str, values: list[Any]) -> None:
    """Hand the batch over, then again (a lost commit): the second counts nothing."""
    batch = [Consumed(i, v) for i, v in enumerate(values)]
    assert await quality.record(group, topic, 0, batch) == len(batch)
    assert await quality.record(group, topic, 0, batch) == 0


async def test_registration_success_per_order_and_what_the_events_cannot_say(quiet: QualityService) -> None:
    confirmed, expired, withdrawn, waiting = (uuid.uuid4() for _ in range(4))
    at = T0
    await _twice(
        quiet,
        "g.subs",
        "subscription.events",
        [
            *(_order("requested", s, at, msisdn=f"86139000022{i:02d}") for i, s in
              enumerate((confirmed, expired, withdrawn, waiting))),
            _order("confirmed", confirmed, at + timedelta(minutes=1), msisdn="8613900002200"),
            _order("expired", expired, at + timedelta(hours=24), msisdn="8613900002201"),
            _order("cancelled", withdrawn, at + timedelta(hours=1), msisdn="8613900002202"),
            # A confirmed order cancelled later stays confirmed.
            _order("cancelled", confirmed, at + timedelta(days=2), msisdn="8613900002200"),
        ],
    )  # fmt: skip
    report = await quiet.report("2031-08", per_partner=False)
    [reg] = [p for p in report.promises if p.key == "registration_success"]
    assert reg.figures["orders"] == 4
    assert (reg.figures["confirmed"], reg.figures["expired"]) == (1, 1)
    assert (reg.figures["withdrawn"], reg.figures["waiting"]) == (1, 1)
    assert reg.figures["success_rate_lower_bound"] == pytest.approx(0.5)
    # An expiry published before the event said whether its user answered may be a user who
    # never answered (counted apart): counted as failed, so a bound below the target is "cannot
    # say", and the data source says why.
    assert reg.met is None
    assert (reg.figures["failed"], reg.figures["expired_unknown"]) == (0, 1)
    assert reg.figures["success_rate"] is None
    assert "lower bound" in reg.data_source

    # Every order of another month confirmed: the bound reaches the target, so the promise is met.
    later = [uuid.uuid4() for _ in range(3)]
    await _twice(
        quiet,
        "g.subs",
        "subscription.events-2",
        [_order(k, s, T0 + timedelta(days=30, minutes=m)) for s in later for m, k in enumerate(("requested", "confirmed"))],
    )  # fmt: skip
    [reg] = [
        p
        for p in (await quiet.report("2031-09", per_partner=False)).promises
        if p.key == "registration_success"
    ]
    assert reg.met is True
    assert reg.figures["success_rate_lower_bound"] == 1.0


async def test_an_expiry_that_says_whether_its_user_answered_makes_the_rate_exact(
    quiet: QualityService,
) -> None:
    """answered=True: failed, on us; answered=False: never answered, counted apart. With every
    expiry of the period saying it, the rate is exact and the promise judged (met or not)."""
    ok, failed, silent = (uuid.uuid4() for _ in range(3))
    at = T0 + timedelta(days=61)  # 2031-10
    users = {ok: "8613900002300", failed: "8613900002301", silent: "8613900002302"}

    def order(kind: str, sub: uuid.UUID, when: datetime, answered: bool | None = None) -> OrderChange:
        return OrderChange(kind, sub, users[sub], "NEWS", when, answered)

    await _twice(
        quiet,
        "g.subs",
        "subscription.events-3",
        [
            *(order("requested", s, at) for s in users),
            order("confirmed", ok, at + timedelta(minutes=1)),
            order("expired", failed, at + timedelta(hours=24), answered=True),
            order("expired", silent, at + timedelta(hours=24), answered=False),
        ],
    )
    [reg] = [
        p
        for p in (await quiet.report("2031-10", per_partner=False)).promises
        if p.key == "registration_success"
    ]
    f = reg.figures
    assert (f["confirmed"], f["failed"], f["never_answered"], f["expired_unknown"]) == (1, 1, 1, 0)
    assert f["success_rate"] == pytest.approx(0.5)  # the never-answered order is not in it
    assert reg.met is False
    assert "≥" not in reg.measured

    # A copy of the expiry saying otherwise changes nothing: the first word is kept.
    await _twice(
        quiet, "g.subs", "subscription.events-4", [order("expired", failed, at + timedelta(hours=25), False)]
    )
    [reg] = [
        p
        for p in (await quiet.report("2031-10", per_partner=False)).promises
        if p.key == "registration_success"
    ]
    assert reg.figures["failed"] == 1


async def test_every_failure_on_us_counts_split_by_reason_and_never_answered_apart(
    quiet: QualityService,
) -> None:
    """subscription.expired's reason: answer_unmatched, confirmation_undelivered and
    confirmation_late are failures (failed_by_reason splits them), never_answered is apart even
    when the event's `answered` is false for an undelivered confirmation too. Older expiries
    without a reason are judged by `answered` as before. Handed over twice, and a copy of an
    expiry giving another reason: no figure changes."""
    at = T0 + timedelta(days=92)  # 2031-11
    ok, unmatched, undelivered, late, silent, old_answered, old_silent = (uuid.uuid4() for _ in range(7))
    users = {sub: f"86139000024{i:02d}" for i, sub in enumerate((ok, unmatched, undelivered, late, silent,
                                                                 old_answered, old_silent))}  # fmt: skip

    def order(
        kind: str, sub: uuid.UUID, when: datetime, answered: bool | None = None, reason: str | None = None
    ) -> OrderChange:
        return OrderChange(kind, sub, users[sub], "NEWS", when, answered, reason)

    expiry = at + timedelta(hours=24)
    await _twice(
        quiet,
        "g.subs",
        "subscription.events-5",
        [
            *(order("requested", s, at) for s in users),
            order("confirmed", ok, at + timedelta(minutes=1)),
            order("expired", unmatched, expiry, True, "answer_unmatched"),
            order("expired", undelivered, expiry, False, "confirmation_undelivered"),
            order("expired", late, expiry, False, "confirmation_late"),
            order("expired", silent, expiry, False, "never_answered"),
            order("expired", old_answered, expiry, True),  # published before the reason existed
            order("expired", old_silent, expiry, False),
        ],
    )

    async def registration() -> Any:
        [reg] = [
            p
            for p in (await quiet.report("2031-11", per_partner=False)).promises
            if p.key == "registration_success"
        ]
        return reg

    reg = await registration()
    f = reg.figures
    assert (f["orders"], f["confirmed"], f["expired"]) == (7, 1, 6)
    assert (f["failed"], f["never_answered"], f["expired_unknown"]) == (4, 2, 0)
    assert f["failed_by_reason"] == {
        "answer_unmatched": 2,  # one said so, one older event said the user answered
        "confirmation_undelivered": 1,
        "confirmation_late": 1,
    }
    assert f["success_rate"] == pytest.approx(1 / 5)  # the never-answered orders are not in it
    assert reg.met is False
    assert "confirmation SMS undelivered 1" in reg.measured
    assert "确认短信未送达 1" in reg.measured_zh
    assert "confirmation_late" in reg.data_source
    assert "confirmation_late" in reg.data_source_zh

    # A copy of an expiry giving another reason: the first word is kept.
    await _twice(
        quiet,
        "g.subs",
        "subscription.events-6",
        [order("expired", silent, expiry, False, "confirmation_late"), order("expired", late, expiry, False)],
    )
    assert (await registration()).figures == f


async def test_unsubscribing_is_timed_from_the_sms_and_nothing_may_follow(quiet: QualityService) -> None:
    sub, again, partner_sub = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    everything = [uuid.uuid4(), uuid.uuid4()]
    other_sub = uuid.uuid4()
    td_at = T0 + timedelta(hours=1)
    cancelled_at = td_at + timedelta(seconds=3)
    # The cancellation is counted before the TD that caused it (another topic): still timed.
    await _twice(
        quiet,
        "g.subs",
        "subscription.events",
        [
            _order("requested", sub, T0),
            _order("confirmed", sub, T0 + timedelta(minutes=1)),
            _order("cancelled", sub, cancelled_at),
            # The same user's other product, cancelled by its partner an hour after the TD: not
            # the TD's doing, not timed.
            _order("requested", partner_sub, T0, product="GAME"),
            _order("confirmed", partner_sub, T0 + timedelta(minutes=1), product="GAME"),
            _order("cancelled", partner_sub, cancelled_at + timedelta(hours=1), product="GAME"),
            # A third user's 00000 cancels both their subscriptions at one instant: both timed.
            *(
                _order(kind, s, at, msisdn=ALL_OUT)
                for s in everything
                for kind, at in (
                    ("requested", T0),
                    ("confirmed", T0),
                    ("cancelled", td_at + timedelta(seconds=1)),
                )
            ),
            # Another user's cancellation by a partner: no SMS before it, not timed.
            _order("requested", other_sub, T0, msisdn="8613900003333"),
            _order("confirmed", other_sub, T0 + timedelta(minutes=1), msisdn="8613900003333"),
            _order("cancelled", other_sub, T0 + timedelta(hours=2), msisdn="8613900003333"),
        ],
    )
    await _twice(
        quiet,
        "g.mo",
        "sms.mo",
        [
            _mo("hello", td_at - timedelta(minutes=5)),
            _mo("ｔｄ NEWS", td_at),
            _mo("Y", td_at + timedelta(hours=5)),
            _mo("00000", td_at, msisdn=ALL_OUT),
        ],
    )  # fmt: skip
    # After it: a product message to the user (a breach), one of another product and one to
    # another user (none); a charge for the cancellation's month (the tariff's, none), one for
    # the next month and a per-message one (breaches); then a new subscription and its content.
    breach = _message(cancelled_at + timedelta(minutes=1))
    await _twice(
        quiet,
        "g.status",
        "sms.status",
        [
            _message(cancelled_at - timedelta(minutes=1)),
            breach,
            _message(cancelled_at + timedelta(minutes=2), product="GAME"),  # GAME still on then
            _message(cancelled_at + timedelta(minutes=2), recipient="8613900009999"),
        ],
    )

    def charge(period: str | None, after: timedelta) -> ChargeSeen:
        return ChargeSeen(uuid.uuid4(), sub, USER, "NEWS", period, None, cancelled_at + after)

    await _twice(
        quiet,
        "g.subs",
        "subscription.events-charges",
        [
            charge("2031-08", timedelta(days=20)),
            charge("2031-09", timedelta(days=20)),
            charge(None, timedelta(hours=1)),
            charge(None, -timedelta(hours=1)),
            _order("requested", again, cancelled_at + timedelta(hours=3)),
            _order("confirmed", again, cancelled_at + timedelta(hours=3, minutes=1)),
        ],
    )
    await _twice(quiet, "g.status", "sms.status-2", [_message(cancelled_at + timedelta(hours=4))])

    report = await quiet.report("2031-08", per_partner=False)
    [unsub] = [p for p in report.promises if p.key == "unsubscribe"]
    assert unsub.figures["cancellations"] == 5
    assert unsub.figures["timed"] == 3
    assert unsub.figures["p50_s"] == pytest.approx(1.0)
    assert unsub.figures["p99_s"] == pytest.approx(3.0)
    assert unsub.figures["max_s"] == pytest.approx(3.0)
    assert unsub.figures["messages_after"] == 1
    # The September fee is charged in September: it counts there; the per-message one here.
    assert unsub.figures["charges_after"] == 1
    assert unsub.met is False
    [sept] = [
        p for p in (await quiet.report("2031-09", per_partner=False)).promises if p.key == "unsubscribe"
    ]
    assert sept.figures["charges_after"] == 1
    quarter = await quiet.report("2031-Q3", per_partner=False)
    [q] = [p for p in quarter.promises if p.key == "unsubscribe"]
    assert (q.figures["messages_after"], q.figures["charges_after"]) == (1, 2)


async def test_content_review_counts_blocked_per_category_and_records_say_what_the_data_lacks(
    quiet: QualityService,
) -> None:
    partner = uuid.uuid4()

    def refused(rule: str, recipients: int, at: datetime) -> ContentRejection:
        return ContentRejection(
            request_id=uuid.uuid4(), partner_id=partner, category=Category.NOTICE,
            rule_category=rule, recipients=recipients, rejected_at=at,
        )  # fmt: skip

    await _twice(
        quiet,
        "g.status",
        "sms.status",
        [
            *(_message(T0, product=None) for _ in range(3)),
            refused("fraud", 2, T0),
            refused("fraud", 1, T0 + timedelta(hours=1)),
            refused("gambling", 5, T0 + timedelta(days=1)),
            refused("fraud", 9, T0 + timedelta(days=40)),  # another month
        ],
    )
    report = await quiet.report("2031-08", per_partner=False)
    keys = {p.key: p for p in report.promises}
    review = keys["content_review"]
    assert review.figures == {
        "reviewed": 3 + 8,
        "sent": 3,
        "blocked": 8,
        "blocked_requests": 3,
        "blocked_by_category": {"fraud": 2, "gambling": 1},
        "blocked_recipients_by_category": {"fraud": 3, "gambling": 5},
    }
    assert review.met is True
    assert "sms.content_rejected" in review.data_source
    records = keys["records_kept"]
    assert records.met is None
    assert records.figures["policy_days"] == 183
    assert records.figures["oldest"]["quality_roll_ups"] is not None  # the day of T0
    assert records.figures["not_reported"] == ["sms-sender", "subscription", "complaints"]
    assert records.figures["stores"]["incident"] == {"oldest": None, "source": "measured", "age_days": None}


async def test_records_kept_per_store_measured_here_and_reported_for_the_others(incident: Running) -> None:
    now = incident.clock.now()
    old = now - timedelta(days=200)
    made = await incident.client.post(
        "/v1/incidents",
        json={"title": "旧故障", "severity": "minor", "impact": "partial", "services": ["sms-sender"],
              "impact_started_at": old.isoformat()},
        headers=OPERATOR,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    month = now.astimezone(SHANGHAI).strftime("%Y-%m")

    async def records() -> dict[str, Any]:
        got = await incident.client.get(f"/v1/quality/reports/{month}", headers=OPERATOR)
        assert got.status_code == 200, got.text
        [p] = [p for p in got.json()["promises"] if p["key"] == "records_kept"]
        return dict(p)

    before = await records()
    assert before["figures"]["stores"]["incident"]["age_days"] == 200
    assert before["met"] is None  # the other stores are not reported
    assert before["figures"]["not_reported"] == ["sms-sender", "subscription", "complaints"]
    for store, age in (("sms-sender", 190), ("subscription", 185), ("complaints", 100)):
        put = await incident.client.put(
            f"/v1/quality/records/{store}",
            json={"oldest_record_at": (now - timedelta(days=age)).isoformat(), "note": "SELECT min(...)"},
            headers=OPERATOR,
        )
        assert put.status_code == 200, put.text
        assert put.json()["store"] == store
    young = await records()
    assert young["figures"]["stores"]["complaints"]["source"] == "reported"
    assert young["figures"]["stores"]["complaints"]["age_days"] == 100
    assert young["met"] is None  # a store younger than the policy cannot say
    assert young["figures"]["not_reported"] == []
    again = await incident.client.put(
        "/v1/quality/records/complaints",
        json={"oldest_record_at": (now - timedelta(days=184)).isoformat(), "note": "再次核对"},
        headers=OPERATOR,
    )
    assert again.status_code == 200, again.text
    kept = await records()
    assert kept["met"] is True
    assert kept["figures"]["stores"]["complaints"]["note"] == "再次核对"
    assert "(reported)" in kept["measured"]
    problem_of(
        await incident.client.put(
            "/v1/quality/records/billing",
            json={"oldest_record_at": old.isoformat(), "note": "x"},
            headers=OPERATOR,
        ),
        422,
        "unknown_store",
    )
    problem_of(
        await incident.client.put(
            "/v1/quality/records/complaints",
            json={"oldest_record_at": (now + timedelta(days=1)).isoformat(), "note": "x"},
            headers=OPERATOR,
        ),
        422,
        "records_in_future",
    )
    body = {"oldest_record_at": old.isoformat(), "note": "x"}
    assert (await incident.client.put("/v1/quality/records/complaints", json=body)).status_code == 401
    agent = await incident.client.put(
        "/v1/quality/records/complaints", json=body, headers=incident.staff(Role.AGENT)
    )
    assert agent.status_code == 403


async def test_the_servqual_view_from_the_report_the_status_page_and_the_replies(incident: Running) -> None:
    quality: QualityService = incident.app.state.quality_service
    now = incident.clock.now()
    local = now.astimezone(SHANGHAI)
    month = local.strftime("%Y-%m")
    # Two incidents this month (one shown on the status page), the month's start or later.
    starts = max(now - timedelta(hours=2), local.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    ids = []
    for title in ("短信网关故障", "订购接口变慢"):
        made = await incident.client.post(
            "/v1/incidents",
            json={"title": title, "severity": "major", "impact": "partial", "services": ["sms-sender"],
                  "impact_started_at": starts.isoformat()},
            headers=OPERATOR,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        ids.append(made.json()["incident"]["id"])
    update = await incident.client.post(
        f"/v1/incidents/{ids[0]}/timeline",
        json={"kind": "status_update", "text": "部分短信发送延迟，正在处理。", "at": (starts + timedelta(minutes=20)).isoformat()},
        headers=OPERATOR,
    )  # fmt: skip
    assert update.status_code == 201, update.text
    scores = [SatisfactionReply(s, starts) for s in (5, 5, 4, 2, 3)]
    await _twice(quality, "g.c", "complaint.events", scores)

    got = await incident.client.get(f"/v1/quality/servqual/{month}", headers=OPERATOR)
    assert got.status_code == 200, got.text
    body = got.json()
    assert [m["month"] for m in body["trend"]][-1] == month
    assert len(body["trend"]) == 6
    current = body["current"]
    assert (current["gap4_incidents"], current["gap4_published"], current["gap4"]) == (2, 1, 1)
    assert current["gap4_publication_median_s"] == pytest.approx(20 * 60)
    assert current["gap5_replies"] == 5
    assert current["gap5_by_score"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 2}
    assert current["gap5_mean_score"] == pytest.approx(19 / 5)
    assert current["gap5_satisfied_share"] == pytest.approx(0.6)
    assert current["gap5"] == pytest.approx(0.9 - 0.6)
    report = (await incident.client.get(f"/v1/quality/reports/{month}", headers=OPERATOR)).json()
    judged = [p for p in report["promises"] if p["met"] is not None]
    assert current["gap3_promises_judged"] == len(judged)
    assert current["gap3"] == sum(1 for p in judged if not p["met"])
    assert set(current["gap3_cannot_say"]) == {p["key"] for p in report["promises"] if p["met"] is None}
    assert set(body["data_sources"]) == {"gap3", "gap4", "gap5"}
    # Earlier months have none of it.
    assert body["trend"][0]["gap5_replies"] == 0
    for bad in ("2026-Q4", "2026-13", "x"):
        problem_of(
            await incident.client.get(f"/v1/quality/servqual/{bad}", headers=OPERATOR), 422, "invalid_month"
        )
    assert (await incident.client.get(f"/v1/quality/servqual/{month}")).status_code == 401


async def test_the_consumers_feed_orders_unsubscriptions_replies_and_refusals_from_the_topics(
    incident: Running,
) -> None:
    at = datetime(2032, 7, 14, 3, 0, tzinfo=UTC)  # a month no other test uses
    msisdn = "8613900005555"
    sub = uuid.uuid4()

    def state(status: str, when: datetime) -> SubscriptionState:
        return SubscriptionState(
            subscription_id=sub, msisdn=msisdn, product_code="WEATHER", partner_id=uuid.uuid4(),
            status=status, channel="sms", occurred_at=when,
        )  # fmt: skip

    td_at = at + timedelta(hours=1)
    events = [
        ("subscription.events", SubscriptionRequested(payload=state("pending", at))),
        ("subscription.events", SubscriptionConfirmed(payload=state("active", at + timedelta(minutes=2)))),
        ("sms.mo", MoReceived(payload=_mo("TDWEATHER", td_at, msisdn=msisdn))),
        (
            "subscription.events",
            SubscriptionCancelled(payload=state("cancelled", td_at + timedelta(seconds=7))),
        ),
        (
            "complaint.events",
            ComplaintUpdated(
                payload=ComplaintState(
                    complaint_id=uuid.uuid4(),
                    change="satisfaction_recorded",
                    channel="sms",
                    category="content",
                    status="closed",
                    msisdn=msisdn,
                    satisfaction=4,
                    occurred_at=at,
                )
            ),
        ),
        (
            "sms.status",
            ContentRejected(
                payload=ContentRejection(
                    request_id=uuid.uuid4(),
                    partner_id=uuid.uuid4(),
                    category=Category.CONTENT,
                    rule_category="gambling",
                    recipients=4,
                    rejected_at=at,
                )
            ),
        ),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=incident.settings.kafka_bootstrap)
    await producer.start()
    try:
        for topic, event in events:
            await producer.send_and_wait(topic, encode_event(event))
    finally:
        await producer.stop()

    async def counted() -> dict[str, Any] | None:
        got = await incident.client.get("/v1/quality/reports/2032-07", headers=OPERATOR)
        assert got.status_code == 200, got.text
        keys = {p["key"]: p for p in got.json()["promises"]}
        done = (
            keys["unsubscribe"]["figures"]["timed"] >= 1
            and keys["registration_success"]["figures"]["confirmed"]
            and keys["content_review"]["figures"]["blocked"]
        )
        return keys if done else None

    keys = await eventually(counted)
    assert keys["registration_success"]["figures"]["orders"] == 1
    assert keys["registration_success"]["met"] is True
    assert keys["unsubscribe"]["figures"]["p99_s"] == pytest.approx(7.0)
    assert keys["unsubscribe"]["met"] is True
    assert keys["content_review"]["figures"]["blocked_by_category"] == {"gambling": 1}
    assert keys["content_review"]["figures"]["blocked"] == 4

    async def replied() -> dict[str, Any] | None:
        got = await incident.client.get("/v1/quality/servqual/2032-07", headers=OPERATOR)
        current: dict[str, Any] = got.json()["current"]
        return current if current["gap5_replies"] else None

    current = await eventually(replied)
    assert current["gap5_by_score"]["4"] == 1


async def test_rows_per_user_action_go_after_their_retention_and_old_months_say_so(
    database: str, kafka: Any
) -> None:
    clock = ManualClock()
    settings = IncidentSettings(
        **{
            **service_settings_kwargs(database, kafka.bootstrap),
            "consumers_enabled": False,
            "quality_user_rows_retention_days": 190,
        }
    )
    app = create_app(settings, clock)
    async with serve(app):
        quality: QualityService = app.state.quality_service
        now = clock.now()
        old, recent = now - timedelta(days=200), now - timedelta(days=2)
        old_sub, recent_sub = uuid.uuid4(), uuid.uuid4()
        await _twice(
            quality,
            "g.retention",
            "subscription.events",
            [
                _order("requested", old_sub, old),
                _order("confirmed", old_sub, old + timedelta(minutes=1)),
                _order("requested", recent_sub, recent),
                _order("confirmed", recent_sub, recent + timedelta(minutes=1)),
                NoticeGiven("suspension", USER, old - timedelta(days=2), old),
            ],
        )
        await _twice(quality, "g.retention.mo", "sms.mo", [_mo("TD", old), _mo("TD", recent)])

        assert await quality.prune() == 3  # the old order, its user's TD, the old notice
        assert await quality.prune() == 0

        old_report = await quality.report(old.astimezone(SHANGHAI).strftime("%Y-%m"), per_partner=False)
        gone = {
            p.key: p
            for p in old_report.promises
            if p.key in ("registration_success", "unsubscribe", "notices_on_time")
        }
        assert len(gone) == 3
        for promise in gone.values():
            assert promise.met is None  # what is left is no measure of that month
            assert promise.measured.startswith("not kept in full")
            assert promise.figures["user_rows_kept_since"]
        recent_report = await quality.report(recent.astimezone(SHANGHAI).strftime("%Y-%m"), per_partner=False)
        [registration] = [p for p in recent_report.promises if p.key == "registration_success"]
        assert registration.met is True  # the recent order, confirmed
        assert registration.figures["confirmed"] == 1
