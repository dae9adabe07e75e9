"""The SMSC drops every bind for 90 s: the sms-sender's health reports (sms.health) say so, the
incident service opens one incident by itself within the configured time, keeps it one while
the outage lasts, and resolves it after the binds have been back for the hold-down time; the
month's availability and MTTR are those computed here by hand from the incident's times.

Suite settings (tests/conftest.py): reports every 0.2 s, binds down for more than 10 s is a
fault, 30 s healthy resolves it. Time is the suite's ManualClock: the test moves it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from vas_common.events.sms_sender import HealthReported
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, read_events

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
BINDS_DOWN_AFTER_S = 10.0  # tests/conftest.py
REPORT_INTERVAL_S = 0.2
HOLD_DOWN_S = 30.0
Suite = Any  # tests/conftest.py


async def _incidents(suite: Suite) -> list[dict[str, Any]]:
    answer = await suite.incident.get("/v1/incidents", headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _binds_up(event: Any) -> float | None:
    if not isinstance(event, HealthReported):
        return None
    [binds] = [c for c in event.payload.checks if c.check == "binds_down"]
    return binds.detail["binds_up"]


async def _smsc_ready(suite: Suite, up: bool) -> bool:
    ready = await suite.sms_sender.get("/readyz")
    return (ready.status_code == 200) == up


async def test_an_smsc_outage_opens_one_incident_by_itself_and_resolves_it_after_recovery(
    suite: Suite, kafka: Any
) -> None:
    await eventually(lambda: _smsc_ready(suite, True))
    outage_at = suite.clock.now()
    ends = await suite.smsc.refuse_binds(90, suite.clock)
    await eventually(lambda: _smsc_ready(suite, False))
    # a report of this suite's sms-sender has seen them down (it looks every report interval);
    # the topic also holds earlier tests' reports, made before this outage or on clocks of their own
    await read_events(
        kafka.bootstrap,
        "sms.health",
        lambda e: _binds_up(e) == 0 and outage_at <= e.payload.observed_at <= suite.clock.now(),
        1,
    )
    assert await _incidents(suite) == []  # down, but not for N seconds yet

    suite.clock.advance(timedelta(seconds=BINDS_DOWN_AFTER_S + 1))
    [opened] = await eventually(lambda: _incidents(suite), timeout_s=10)
    assert opened["origin"] == "signal"
    assert opened["services"] == ["sms-sender"]
    assert opened["impact"] == "full"
    started = datetime.fromisoformat(opened["impact_started_at"])
    detected = datetime.fromisoformat(opened["detected_at"])
    assert outage_at <= started <= outage_at + timedelta(seconds=5)
    # opened within the configured time: N seconds of binds down, and the next report
    assert detected - started <= timedelta(seconds=BINDS_DOWN_AFTER_S + 1 + 5 * REPORT_INTERVAL_S)
    detail = (await suite.incident.get(f"/v1/incidents/{opened['id']}", headers=OPERATOR)).json()
    [evidence] = [e for e in detail["timeline"] if e["kind"] == "evidence"]
    assert evidence["detail"]["check"] == "binds_down"
    assert evidence["detail"]["value"] > BINDS_DOWN_AFTER_S
    assert evidence["detail"]["detail"]["binds_up"] == 0

    # the outage goes on (the reports keep failing): still one incident
    suite.clock.advance(timedelta(seconds=30))
    await read_events(
        kafka.bootstrap,
        "sms.health",
        lambda e: (
            isinstance(e, HealthReported) and e.payload.observed_at > suite.clock.now() - timedelta(seconds=1)
        ),
        3,
    )
    assert [i["id"] for i in await _incidents(suite)] == [opened["id"]]

    # the SMSC takes binds again: the sms-sender binds, reports healthy; after the hold-down the
    # incident is resolved by itself
    suite.clock.advance(ends - suite.clock.now() + timedelta(seconds=1))
    await eventually(lambda: _smsc_ready(suite, True), timeout_s=30)
    back = suite.clock.now()
    await read_events(
        kafka.bootstrap,
        "sms.health",
        lambda e: (
            isinstance(e, HealthReported)
            and e.payload.observed_at > back
            and not any(c.failing for c in e.payload.checks)
        ),
        1,
    )
    assert (await _incidents(suite))[0]["status"] == "open"

    async def hold_down_started() -> bool:
        # the incident service has taken a healthy report in: only then may the clock move on
        conn = await asyncpg.connect(suite.incident_db)
        try:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM signal_faults WHERE closed_at IS NULL AND healthy_since IS NOT NULL"
                )
            )
        finally:
            await conn.close()

    await eventually(hold_down_started, timeout_s=30)
    suite.clock.advance(timedelta(seconds=HOLD_DOWN_S + 1))

    async def resolved() -> dict[str, Any] | None:
        [found] = await _incidents(suite)
        return found if found["status"] == "resolved" else None

    done = await eventually(resolved, timeout_s=15)
    mitigated = datetime.fromisoformat(done["mitigated_at"])
    resolved_at = datetime.fromisoformat(done["resolved_at"])
    assert ends - timedelta(seconds=1) <= mitigated <= back + timedelta(seconds=2)
    assert resolved_at - mitigated >= timedelta(seconds=HOLD_DOWN_S)
    assert len(await _incidents(suite)) == 1

    # the month's figures, by hand: a full outage from impact started to mitigated
    shanghai = ZoneInfo("Asia/Shanghai")
    local = started.astimezone(shanghai)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    month_start, month_end = month_start.astimezone(UTC), month_end.astimezone(UTC)
    suite.clock.advance(month_end - suite.clock.now() + timedelta(days=1))  # the month is over
    down = (min(mitigated, month_end) - max(started, month_start)).total_seconds()
    month_seconds = (month_end - month_start).total_seconds()
    answer = await suite.incident.get(
        "/v1/availability",
        params={"service": "sms-sender", "month": local.strftime("%Y-%m")},
        headers=OPERATOR,
    )
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["period_seconds"] == pytest.approx(month_seconds)
    assert figures["weighted_down_seconds"] == pytest.approx(down)
    assert figures["availability"] == pytest.approx(1 - down / month_seconds)
    assert figures["mttr_seconds"] == pytest.approx((resolved_at - started).total_seconds())
    assert figures["mtbf_seconds"] == pytest.approx(month_seconds - down)
    assert [(i["source_id"], i["kind"], i["weight"]) for i in figures["intervals"]] == [
        (done["id"], "full", 1.0)
    ]
    assert "0.3" in figures["rule"]["text"]

    # The month's quality report gives the same figures (it calls the same rule) and judges the
    # promises by them: availability > 99.6 %, MTTR <= 2 h.
    report = await suite.incident.get(f"/v1/quality/reports/{local.strftime('%Y-%m')}", headers=OPERATOR)
    assert report.status_code == 200, report.text
    body = report.json()
    [sms] = [a for a in body["availability"] if a["service"] == "sms-sender"]
    assert sms["availability"] == pytest.approx(1 - down / month_seconds)
    assert sms["mttr_seconds"] == pytest.approx((resolved_at - started).total_seconds())
    assert (sms["outages"], sms["repairs"]) == (1, 1)
    promises = {p["key"]: p for p in body["promises"]}
    assert promises["availability"]["met"] is True
    assert promises["mttr"]["met"] is True
