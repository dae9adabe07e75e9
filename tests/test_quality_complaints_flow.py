"""Complaint clock attainment through the stack: the complaints service tells each clock run that
stopped (complaint.clock_stopped) and each breach once; the incident service's quality report,
which reads only the events, gives per clock the same met / met late / breached counts as the
complaints service's own attainment report, read from its database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A month of this test's own: the topics carry the other tests' complaints, near today.
MONTH_START = datetime(2033, 7, 1, tzinfo=SHANGHAI)
MONTH_END = datetime(2033, 8, 1, tzinfo=SHANGHAI)


async def _log(suite: Suite, msisdn: str) -> str:
    made = await suite.complaints.post(
        "/v1/complaints",
        json={"channel": "phone", "category": "billing", "msisdn": msisdn, "summary": "扣费不明"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _event(suite: Suite, complaint_id: str, kind: str) -> None:
    done = await suite.complaints.post(
        f"/v1/complaints/{complaint_id}/events", json={"kind": kind}, headers=OPERATOR
    )
    assert done.status_code == 200, done.text


async def _tick(suite: Suite) -> None:
    assert (await suite.complaints.post("/v1/jobs/sla-tick", headers=OPERATOR)).status_code == 200


async def _complaints_report(suite: Suite) -> dict[str, dict[str, int]]:
    got = await suite.complaints.get(
        f"/v1/reports/attainment?from={quote(MONTH_START.isoformat())}&to={quote(MONTH_END.isoformat())}",
        headers=OPERATOR,
    )
    assert got.status_code == 200, got.text
    return {
        c["clock"]: {k: c["total"][k] for k in ("met", "met_late", "breached")}
        for c in got.json()["clocks"]
        if c["total"]["decided"]
    }


async def _quality_report(suite: Suite) -> dict[str, Any]:
    got = await suite.incident.get("/v1/quality/reports/2033-07", headers=OPERATOR)
    assert got.status_code == 200, got.text
    [clocks] = [p for p in got.json()["promises"] if p["key"] == "complaint_clocks"]
    return dict(clocks)


async def test_the_quality_report_counts_each_clock_as_the_complaints_service_does(suite: Suite) -> None:
    # A Tuesday in working hours (the clock only moves forward, and time still flows)
    suite.clock.advance(datetime(2033, 7, 5, 10, 0, tzinfo=SHANGHAI) - suite.clock.now())
    on_time = await _log(suite, "8613900000001")
    late = await _log(suite, "8613900000002")
    await _log(suite, "8613900000003")  # never contacted: its first reply stays breached

    suite.clock.advance(timedelta(minutes=10))
    await _event(suite, on_time, "contacted")
    suite.clock.advance(timedelta(minutes=50))  # an hour in: the others' first reply is past due
    await _tick(suite)
    await _event(suite, late, "contacted")
    await _tick(suite)

    expected = await _complaints_report(suite)
    first_reply = expected["first_reply"]
    assert first_reply == {"met": 1, "met_late": 1, "breached": 1}, expected

    async def same() -> dict[str, Any] | None:
        clocks = await _quality_report(suite)
        counted = {
            clock: {k: figures[k] for k in ("met", "met_late", "breached")}
            for clock, figures in clocks["figures"]["by_clock"].items()
        }
        return clocks if counted == expected else None

    clocks = await eventually(same, timeout_s=30)
    decided = sum(sum(t.values()) for t in expected.values())
    met = sum(t["met"] for t in expected.values())
    assert clocks["figures"]["decided"] == decided
    assert clocks["figures"]["attainment_share"] == met / decided
    assert clocks["met"] is False  # two first replies were past due
