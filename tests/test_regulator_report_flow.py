"""A major outage through the whole stack: the SMSC drops every bind, the incident service opens
an incident by itself, the duty manager raises it to a major outage, and a regulator report is
owed. A message accepted during the outage is submitted late once the SMSC is back: its
sms.status reaches the incident service and the report counts it (one message delayed, one
user). Nobody sends the first report: it goes overdue, and the overdue event is raised once.

Suite settings (tests/conftest.py): binds down for more than 10 s is a fault. Time is the
suite's ManualClock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vas_common.events.incident_regulator import RegulatorReportOverdue
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, read_events

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
USER = "8613760000071"


async def _ready(suite: Suite, up: bool) -> bool:
    return ((await suite.sms_sender.get("/readyz")).status_code == 200) == up


async def test_a_major_outage_owes_a_report_with_figures_from_the_data_that_goes_overdue(
    suite: Suite, kafka: Any
) -> None:
    partner = await suite.partner()
    await eventually(lambda: _ready(suite, True))
    ends = await suite.smsc.refuse_binds(90, suite.clock)
    await eventually(lambda: _ready(suite, False))
    sent = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={"recipients": [USER], "content": "您的服务通知", "category": "notice"},
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["accepted"][0]["message_id"]

    suite.clock.advance(timedelta(seconds=11))

    async def opened() -> dict[str, Any] | None:
        items = (await suite.incident.get("/v1/incidents", headers=OPERATOR)).json()["items"]
        return items[0] if items and items[0]["origin"] == "signal" else None

    incident = await eventually(opened, timeout_s=15)
    assert (await suite.incident.get("/v1/regulator-reports", headers=OPERATOR)).json() == []
    raised = await suite.incident.patch(
        f"/v1/incidents/{incident['id']}", json={"severity": "major_outage"}, headers=OPERATOR
    )
    assert raised.status_code == 200, raised.text
    [report] = (await suite.incident.get("/v1/regulator-reports", headers=OPERATOR)).json()
    assert report["incident_id"] == incident["id"]
    assert report["state"] == "due"

    # the SMSC is back: the message goes out, late
    suite.clock.advance(ends - suite.clock.now() + timedelta(seconds=1))
    await eventually(lambda: _ready(suite, True), timeout_s=30)

    async def submitted() -> bool:
        found = await suite.sms_sender.get(f"/v1/messages/{message_id}", headers=partner["headers"])
        return found.json()["status"] in ("submitted", "delivered")

    await eventually(submitted, timeout_s=30)

    async def counted() -> dict[str, Any]:
        doc = (await suite.incident.get(f"/v1/regulator-reports/{report['id']}", headers=OPERATOR)).json()
        assert doc["impact"]["messages_delayed"] == 1, doc["impact"]
        return dict(doc)

    doc = await eventually(counted, timeout_s=20)
    assert doc["impact"]["users_affected"] == 1
    assert doc["impact"]["counted"] is True
    assert any(e["kind"] == "evidence" for e in doc["incident"]["timeline"])

    # nobody sent the first report: an hour after detection it is overdue, once
    suite.clock.advance(timedelta(hours=1))

    async def overdue() -> bool:
        [now] = (await suite.incident.get("/v1/regulator-reports", headers=OPERATOR)).json()
        return bool(now["state"] == "overdue")

    await eventually(overdue, timeout_s=15)
    events = await read_events(
        kafka.bootstrap,
        "incident.events",
        lambda e: isinstance(e, RegulatorReportOverdue) and str(e.payload.report_id) == report["id"],
        1,
    )
    assert len(events) == 1
    assert events[0][0].payload.stage == "first"
