"""Service quality on the real database and broker: the roll-ups count each event once however
often it is delivered (the watermark), the consumers feed them from sms.status and sms.mo, and the
report gives each promise with its target, measured figures and data source (staff only; a bad
period is a 422 problem)."""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident.main import create_app
from incident.quality.domain import SHANGHAI, NoticeGiven
from incident.quality.service import Consumed, QualityService
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.events import encode_event
from vas_common.events.complaints import ClockRun, ClockStopped, SlaAlert, SlaBreached
from vas_common.events.sms_sender import (
    MessageState,
    MessageStatus,
    MessageStatusChanged,
    MoMessage,
    MoReceived,
)
from vas_common.events.subscription import PartnerProfileChanged, PartnerState, PartnerStatus
from vas_common.staff import Role
from vas_devstack.pytest_plugin import eventually, problem_of, serve, service_settings_kwargs

OPERATOR = {"Authorization": "Bearer test-operator-token"}
Running = Any  # conftest.RunningIncident

# Far from the other tests' traffic on the shared topics (their times are near now).
DAY = datetime(2031, 5, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _state(
    delay_s: float,
    *,
    status: MessageStatus = MessageStatus.SUBMITTED,
    partner: uuid.UUID | None = None,
    at: datetime = DAY,
) -> MessageState:
    submitted = at + timedelta(seconds=delay_s)
    return MessageState(
        message_id=uuid.uuid4(),
        partner_id=partner,
        recipient="8613812345678",
        status=status,
        segments_total=1,
        segments=[],
        accepted_at=at,
        submitted_at=submitted,
        done_at=submitted if status is MessageStatus.DELIVERED else None,
    )


@pytest.fixture
async def quiet(database: str, kafka: Any) -> AsyncIterator[QualityService]:
    """The service reading no topic: the test hands it the batches."""
    settings = IncidentSettings(
        **{**service_settings_kwargs(database, kafka.bootstrap), "consumers_enabled": False}
    )
    app = create_app(settings, ManualClock())
    async with serve(app):
        yield app.state.quality_service


async def test_a_batch_delivered_twice_changes_no_figure(quiet: QualityService) -> None:
    partner = uuid.uuid4()
    delays = [0.2 + 0.05 * i for i in range(40)] + [4.5, 9.0]
    states = [_state(d, partner=partner if i % 2 else None) for i, d in enumerate(delays)]
    batch = [Consumed(100 + i, s) for i, s in enumerate(states)]
    mo = [Consumed(7 + i, DAY + timedelta(seconds=i % 3)) for i in range(9)]
    alert = SlaAlert(
        complaint_id=uuid.uuid4(),
        clock="solution",
        alert="breached",
        started_at=DAY - timedelta(days=2),
        due_at=DAY,
        at=DAY,
        channel="web",
        category="content",
    )
    late = ClockRun(  # the solution clock's run, breached above, then stopped late
        complaint_id=alert.complaint_id,
        clock="solution",
        started_at=alert.started_at,
        due_at=alert.due_at,
        stopped_at=DAY + timedelta(hours=3),
        met=False,
        channel="web",
        category="content",
    )
    on_time = late.model_copy(update={"complaint_id": uuid.uuid4(), "stopped_at": DAY - timedelta(hours=1)})
    breaches = [
        Consumed(0, alert),
        Consumed(1, alert.model_copy(update={"clock": "closure"})),
        Consumed(2, late),
        Consumed(3, on_time.model_copy(update={"met": True})),
    ]

    assert await quiet.record("g.status", "sms.status", 2, batch[:30]) == 30
    assert await quiet.record("g.mo", "sms.mo", 0, mo) == 9
    assert await quiet.record("g.c", "complaint.events", 0, breaches[:1]) == 1
    first = (await quiet.report("2031-05", per_partner=True)).delay
    # The whole batch again (a lost commit), and a batch overlapping what was counted.
    assert await quiet.record("g.status", "sms.status", 2, batch[:30]) == 0
    assert await quiet.record("g.status", "sms.status", 2, batch[20:]) == 12
    assert await quiet.record("g.mo", "sms.mo", 0, mo) == 0
    assert await quiet.record("g.c", "complaint.events", 0, breaches) == 3
    report = await quiet.report("2031-05", per_partner=True)

    assert first.messages == 30
    assert report.delay.messages == len(delays)
    assert report.delay.within_target == 40
    assert report.delay.max_s == pytest.approx(9.0)
    ordered = sorted(delays)
    p50 = ordered[math.floor(0.5 * (len(ordered) - 1))]
    assert report.delay.p50_s == pytest.approx(p50, rel=0.02)
    [day] = [d for d in report.days if d.day.isoformat() == "2031-05-06"]
    assert day.delay.messages == len(delays)
    assert day.mt_messages == len(delays)
    assert day.mo_messages == 9
    assert day.mo_peak_per_second == 3
    assert report.partners is not None
    assert report.partners[partner].messages == 21
    [clocks] = [p for p in report.promises if p.key == "complaint_clocks"]
    assert clocks.figures["by_clock"] == {
        "closure": {"met": 0, "met_late": 0, "breached": 1, "attainment_share": 0.0},
        "solution": {"met": 1, "met_late": 1, "breached": 0, "attainment_share": 0.5},
    }
    assert clocks.figures["attainment_share"] == pytest.approx(1 / 3)
    assert (
        clocks.figures["breaches"] == 2
    )  # the closure run still running late, the solution one stopped late
    assert clocks.met is False
    day_of_hours, hours = await quiet.hours("2031-05-06")
    assert day_of_hours.isoformat() == "2031-05-06"
    assert len(hours) == 24
    [busy] = [h for h in hours if h.delay.messages]
    assert busy.hour_start.hour == 10  # Shanghai
    assert busy.delay.messages == len(delays)
    assert busy.mt_messages == len(delays)
    assert busy.mo_peak_per_second == 3
    # Another partition of the same topic has its own watermark.
    assert await quiet.record("g.status", "sms.status", 3, [Consumed(100, _state(1.0))]) == 1
    assert (await quiet.report("2031-05", per_partner=False)).delay.messages == len(delays) + 1


# Each run's story, as the complaints service tells it: stopped in time; breached, then stopped
# late; breached and still running.
_STORIES = {"met": ("stop",), "met_late": ("breach", "stop"), "breached": ("breach",)}
_MONTHS = itertools.count()


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    # one service for all examples; each example has a month of its own
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stories=st.lists(
        st.tuples(st.sampled_from(sorted(_STORIES)), st.sampled_from(["solution", "closure"])),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
)
async def test_clock_attainment_is_the_same_whatever_the_order_duplicates_and_partitions(
    quiet: QualityService, stories: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Invariant: each run counts once with its final outcome (a stop wins over a breach, met or
    late), whichever order its events come in, however often, on whichever partitions."""
    n = next(_MONTHS)
    month = f"{2040 + n // 12}-{n % 12 + 1:02d}"
    due = datetime(2040 + n // 12, n % 12 + 1, 10, 2, 0, tzinfo=UTC)
    events: list[SlaAlert | ClockRun] = []
    for outcome, clock in stories:
        complaint, started = uuid.uuid4(), due - timedelta(hours=4)
        for step in _STORIES[outcome]:
            if step == "breach":
                events.append(
                    SlaAlert(
                        complaint_id=complaint,
                        clock=clock,
                        alert="breached",
                        started_at=started,
                        due_at=due,
                        at=due,
                        channel="web",
                        category="billing",
                    )
                )
            else:
                events.append(
                    ClockRun(
                        complaint_id=complaint,
                        clock=clock,
                        started_at=started,
                        due_at=due,
                        stopped_at=due + timedelta(minutes=-5 if outcome == "met" else 5),
                        met=outcome == "met",
                        channel="web",
                        category="billing",
                    )
                )
    delivered = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=4))))
    partitions: dict[int, list[Consumed]] = {}
    for value in delivered:
        batch = partitions.setdefault(data.draw(st.integers(0, 2)), [])
        batch.append(Consumed(len(batch), value))
    for partition, batch in partitions.items():
        await quiet.record(f"g.runs.{n}", "complaint.events", partition, batch)
        await quiet.record(f"g.runs.{n}", "complaint.events", partition, batch)  # a lost commit

    report = await quiet.report(month, per_partner=False)
    [clocks] = [p for p in report.promises if p.key == "complaint_clocks"]
    expected: dict[str, dict[str, int]] = {}
    for outcome, clock in stories:
        tally = expected.setdefault(clock, {"met": 0, "met_late": 0, "breached": 0})
        tally[outcome] += 1
    got = {
        clock: {k: v for k, v in figures.items() if k != "attainment_share"}
        for clock, figures in cast(dict[str, dict[str, Any]], clocks.figures["by_clock"]).items()
    }
    assert got == expected
    assert clocks.met is all(outcome == "met" for outcome, _ in stories)


async def test_a_message_counts_once_across_its_statuses(quiet: QualityService) -> None:
    submitted = _state(0.5)
    delivered = submitted.model_copy(
        update={"status": MessageStatus.DELIVERED, "done_at": DAY + timedelta(seconds=3)}
    )
    straight = _state(0.7, status=MessageStatus.DELIVERED)  # submitted and delivered in one step
    failed = _state(0.0).model_copy(update={"status": MessageStatus.FAILED, "submitted_at": None})
    batch = [Consumed(i, s) for i, s in enumerate((submitted, delivered, straight, failed, None))]
    assert await quiet.record("g", "sms.status", 0, batch) == 5
    report = await quiet.report("2031-05", per_partner=False)
    assert report.delay.messages == 2
    assert report.partners is None


async def test_the_consumers_feed_the_report_from_the_topics(incident: Running) -> None:
    at = DAY + timedelta(days=1)
    partner = uuid.uuid4()
    states = [_state(d, at=at, partner=partner) for d in (0.3, 0.4, 5.0)]
    named = PartnerProfileChanged(
        payload=PartnerState(
            partner_id=partner,
            name="星河文化",
            status=PartnerStatus.ACTIVE,
            api_key_id="k",
            api_key_sha256="0" * 64,
            revision=2,
            updated_at=at,
        )
    )
    breach = SlaBreached(
        payload=SlaAlert(
            complaint_id=uuid.uuid4(),
            clock="first_reply",
            alert="breached",
            started_at=at - timedelta(hours=5),
            due_at=at - timedelta(hours=1),
            at=at - timedelta(hours=1),
            channel="phone",
            category="billing",
        )
    )
    mos = [
        MoReceived(
            payload=MoMessage(
                mo_id=uuid.uuid4(), msisdn="8613812345678", destination="10655", text="TD", received_at=at
            )
        )
        for _ in range(4)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=incident.settings.kafka_bootstrap)
    stop = ClockStopped(
        payload=ClockRun(
            complaint_id=uuid.uuid4(),
            clock="solution",
            started_at=at - timedelta(hours=5),
            due_at=at + timedelta(hours=1),
            stopped_at=at,
            met=True,
            channel="web",
            category="content",
        )
    )
    await producer.start()
    try:
        for s in states:
            await producer.send_and_wait("sms.status", encode_event(MessageStatusChanged(payload=s)))
        for m in mos:
            await producer.send_and_wait("sms.mo", encode_event(m))
        await producer.send_and_wait("complaint.events", encode_event(breach))
        await producer.send_and_wait("complaint.events", encode_event(stop))
        await producer.send_and_wait("subscription.events", encode_event(named))
    finally:
        await producer.stop()

    async def counted() -> dict[str, Any] | None:
        got = await incident.client.get("/v1/quality/reports/2031-05", headers=OPERATOR)
        assert got.status_code == 200, got.text
        [day] = [d for d in got.json()["days"] if d["day"] == "2031-05-07"]
        return day if day["delay"]["messages"] >= 3 and day["mo_messages"] >= 4 else None

    day = await eventually(counted)
    assert day["delay"]["messages"] == 3
    assert day["delay"]["within_target"] == 2
    assert day["mo_peak_per_second"] == 4
    assert day["mt_busy_hour"]["messages"] == 3

    async def named_partner() -> dict[str, Any] | None:
        got = await incident.client.get("/v1/quality/reports/2031-05", headers=OPERATOR)
        found = [p for p in got.json()["partners"] if p["partner_id"] == str(partner)]
        return found[0] if found and found[0]["name"] else None

    assert (await eventually(named_partner))["name"] == "星河文化"

    async def breached() -> dict[str, Any] | None:
        got = await incident.client.get("/v1/quality/reports/2031-05", headers=OPERATOR)
        [clocks] = [p for p in got.json()["promises"] if p["key"] == "complaint_clocks"]
        return clocks if clocks["figures"]["decided"] >= 2 else None

    clocks = await eventually(breached)
    assert clocks["figures"]["by_clock"] == {
        "first_reply": {"met": 0, "met_late": 0, "breached": 1, "attainment_share": 0.0},
        "solution": {"met": 1, "met_late": 0, "breached": 0, "attainment_share": 1.0},
    }
    assert clocks["figures"]["attainment_share"] == 0.5
    assert clocks["met"] is False


async def test_the_report_names_each_promise_with_its_data(incident: Running) -> None:
    got = await incident.client.get("/v1/quality/reports/2026-Q4", headers=incident.staff(Role.AGENT))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["period"] == "2026-Q4"
    assert len(body["days"]) == 92
    keys = {p["key"]: p for p in body["promises"]}
    assert set(keys) == {
        "send_delay",
        "capacity",
        "availability",
        "mttr",
        "complaint_clocks",
        "notices_on_time",
        "registration_success",
        "unsubscribe",
        "content_review",
        "records_kept",
    }
    assert all(p["data_source"] for p in body["promises"])
    # (The topics carry the other tests' events of these months: figures are not asserted here.)
    clocks = keys["complaint_clocks"]
    assert clocks["met"] is (clocks["figures"]["breaches"] == 0)  # a breach is a promise broken
    decided = clocks["figures"]["decided"]
    share = clocks["figures"]["attainment_share"]
    assert share is None if decided == 0 else share == clocks["figures"]["met"] / decided
    assert "complaint.events" in clocks["data_source"]
    # Incidents are this database's own: none, so every service was up (incident.availability's rule).
    assert keys["availability"]["figures"] == dict.fromkeys(incident.settings.services, 1.0)
    assert keys["availability"]["met"] is True
    assert keys["mttr"]["measured"] == "no repairs in the period"
    assert isinstance(body["partners"], list)  # staff see them


async def test_a_bad_period_is_a_problem_and_strangers_get_nothing(incident: Running) -> None:
    for bad in ("2026-13", "2026-Q5", "november"):
        problem_of(
            await incident.client.get(f"/v1/quality/reports/{bad}", headers=OPERATOR), 422, "invalid_period"
        )
    for bad in ("2026-02-30", "2026-11", "2026-1-1"):
        problem_of(await incident.client.get(f"/v1/quality/days/{bad}", headers=OPERATOR), 422, "invalid_day")
    assert (await incident.client.get("/v1/quality/reports/2026-11")).status_code == 401
    assert (await incident.client.get("/v1/quality/days/2026-11-03")).status_code == 401


async def test_maintenance_notices_are_on_time_by_the_availability_rule(incident: Running) -> None:
    def window(starts_in: timedelta, **more: Any) -> dict[str, Any]:
        start = incident.clock.now() + starts_in
        return {
            "product_codes": ["NEWS"],
            "services": ["sms-sender"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "text_zh": "短信网关升级。",
            **more,
        }

    for body in (
        window(timedelta(hours=80)),  # announced 80 h ahead: on time
        window(timedelta(hours=3), emergency=True, emergency_reason="核心网设备故障"),
    ):
        created = await incident.client.post("/v1/maintenance-windows", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
    incident.clock.advance(timedelta(hours=81))
    await incident.app.state.maintenance_service.tick()
    period = incident.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    on_time_start, emergency_start = (incident.clock.now() - timedelta(hours=h) for h in (1, 78))
    in_period = [s.astimezone(SHANGHAI).strftime("%Y-%m") == period for s in (on_time_start, emergency_start)]
    expected = sum(in_period)
    got = await incident.client.get(f"/v1/quality/reports/{period}", headers=OPERATOR)
    assert got.status_code == 200, got.text
    [notices] = [p for p in got.json()["promises"] if p["key"] == "notices_on_time"]
    maintenance = notices["figures"]["maintenance"]
    assert maintenance["given"] == expected  # both, unless the month turned between
    assert maintenance["on_time"] == int(in_period[0])
    if in_period[1]:  # (the other kinds come from the shared topic: not asserted here)
        assert notices["met"] is False


async def test_discontinuations_and_suspensions_are_judged_by_their_notice_time(
    quiet: QualityService,
) -> None:
    effective = datetime(2031, 8, 20, 2, 0, tzinfo=UTC)
    product = str(uuid.uuid4())
    notices = [
        NoticeGiven("discontinuation", product, effective - timedelta(days=31), effective),
        NoticeGiven("suspension", "8613812345678", effective - timedelta(hours=25), effective),
        NoticeGiven("suspension", "8613812345679", effective - timedelta(hours=23), effective),  # late
        NoticeGiven(
            "suspension", "8613812345670", effective - timedelta(days=40), effective + timedelta(days=20)
        ),
    ]
    batch = [Consumed(i, n) for i, n in enumerate(notices)]
    assert await quiet.record("g.n", "subscription.events", 0, batch) == 4
    # The same events again under later offsets (published twice): the natural key keeps one.
    assert (
        await quiet.record("g.n", "subscription.events", 0, [Consumed(10 + c.offset, c.value) for c in batch])
        == 4
    )

    report = await quiet.report("2031-08", per_partner=False)
    [promise] = [p for p in report.promises if p.key == "notices_on_time"]
    assert promise.figures["discontinuation"] == {"given": 1, "on_time": 1}
    assert promise.figures["suspension"] == {"given": 2, "on_time": 1}  # the one of September is not counted
    assert promise.met is False
    assert "1 of 2" in promise.measured
    september = await quiet.report("2031-09", per_partner=False)
    [later] = [p for p in september.promises if p.key == "notices_on_time"]
    assert later.figures["suspension"] == {"given": 1, "on_time": 1}
    assert later.met is True
    async with quiet._pool.acquire() as conn:
        subjects = {r["subject"] for r in await conn.fetch("SELECT subject FROM quality_notices")}
    assert not any(s.startswith("86") for s in subjects)


async def test_minute_rows_past_the_retention_go_and_the_day_rows_stay(quiet: QualityService) -> None:
    now = quiet.clock.now()
    old, recent = now - timedelta(days=100), now - timedelta(days=1)
    batch = [Consumed(i, _state(0.5, at=at)) for i, at in enumerate((old, old, recent))]
    assert await quiet.record("g", "sms.status", 0, batch) == 3
    assert await quiet.prune() == 1  # the old minute (one partner)
    assert await quiet.prune() == 0
    old_day = old.astimezone(SHANGHAI)
    _, hours = await quiet.hours(old_day.date().isoformat())
    assert sum(h.delay.messages for h in hours) == 0  # the hourly view of that day is gone
    report = await quiet.report(old_day.strftime("%Y-%m"), per_partner=False)
    [day] = [d for d in report.days if d.day == old_day.date()]
    assert day.delay.messages == 2  # the day rows stay


async def test_the_rollup_age_gauge_is_the_time_since_the_newest_minute_counted(
    quiet: QualityService,
) -> None:
    assert quiet.metrics is not None
    registry = quiet.metrics.registry
    assert registry is not None

    def age(direction: str) -> float | None:
        return registry.get_sample_value("incident_quality_rollup_age_seconds", {"direction": direction})

    await quiet.sample()
    assert age("mt") is None  # no traffic yet: no sample, rather than a made-up age
    assert age("mo") is None

    now = quiet.clock.now()
    # Submitted 10 minutes ago (its minute ended 9 to 10 minutes ago); an MO 2 hours ago.
    sent = now - timedelta(minutes=10, seconds=0.5)
    assert (
        await quiet.record(
            "g.status", "sms.status", 0, [Consumed(0, _state(0.5, at=sent - timedelta(seconds=0.5)))]
        )
        == 1
    )
    assert await quiet.record("g.mo", "sms.mo", 0, [Consumed(0, now - timedelta(hours=2))]) == 1
    await quiet.sample()
    mt, mo = age("mt"), age("mo")
    assert mt is not None
    assert 9 * 60 <= mt <= 10 * 60 + 1
    assert mo is not None
    assert 119 * 60 <= mo <= 120 * 60 + 1

    # Time passes with no traffic: the age grows with the service clock.
    cast(ManualClock, quiet.clock).advance(timedelta(minutes=30))
    await quiet.sample()
    later = age("mt")
    assert later is not None
    assert later == pytest.approx(mt + 30 * 60, abs=2)
    # A status of a message submitted just now: the roll-up is current again.
    assert (
        await quiet.record("g.status", "sms.status", 0, [Consumed(1, _state(0.1, at=quiet.clock.now()))]) == 1
    )
    await quiet.sample()
    assert age("mt") == 0
