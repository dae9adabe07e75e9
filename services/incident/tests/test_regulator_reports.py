"""Regulator reports on the real database and broker: a major outage opened by hand owes one
report (two replicas racing make one), which goes overdue when the clock passes its first
deadline unsent (the event once, the metrics moving); one marked sent in time never does; a
minor incident owes none; an incident raised to a major outage later owes one; the figures
come from sms.status; the rules are data; the document is JSON, HTML and PDF."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pypdf
from aiokafka import AIOKafkaProducer

from vas_common.events import encode_event
from vas_common.events.incident_regulator import RegulatorReportDueSoon, RegulatorReportOverdue
from vas_common.events.sms_sender import MessageState, MessageStatus, MessageStatusChanged
from vas_common.staff import Role
from vas_devstack.pytest_plugin import eventually, problem_of, read_events

OPERATOR = {"Authorization": "Bearer test-operator-token"}
Running = Any  # conftest.RunningIncident


async def _open(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "短信网关全部中断",
        "severity": "major_outage",
        "impact": "full",
        "services": ["sms-sender"],
    }
    created = await client.post("/v1/incidents", json={**body, **fields}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    return dict(created.json()["incident"])


async def _report_of(client: httpx.AsyncClient, incident_id: str) -> list[dict[str, Any]]:
    listed = await client.get("/v1/regulator-reports", headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    return [r for r in listed.json() if r["incident_id"] == incident_id]


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_major_outage_not_reported_goes_overdue_once(incident: Running) -> None:
    opened = await _open(incident.client)
    [report] = await _report_of(incident.client, opened["id"])
    assert report["state"] == "due"
    assert report["rule"]["id"] == "major_outage"
    assert report["rule"]["first_within_s"] == 3600
    detected = datetime.fromisoformat(opened["detected_at"])
    assert datetime.fromisoformat(report["first"]["due_at"]) == detected + timedelta(hours=1)
    assert report["final"]["state"] == "pending"
    before = (await incident.client.get("/metrics")).text
    overdue_before = _metric(before, "incident_regulator_reports_overdue_total", stage="first")

    incident.clock.advance(timedelta(minutes=35))  # past the warning (30 min before the deadline)

    async def warned() -> list[Any]:
        return await read_events(
            incident.settings.kafka_bootstrap,
            "incident.events",
            lambda e: isinstance(e, RegulatorReportDueSoon) and str(e.payload.report_id) == report["id"],
            1,
        )

    [(warning, _)] = await warned()
    assert warning.payload.stage == "first"
    incident.clock.advance(timedelta(minutes=30))  # past the deadline, unsent

    async def overdue() -> dict[str, Any]:
        [now] = await _report_of(incident.client, opened["id"])
        assert now["state"] == "overdue"
        return now

    await eventually(overdue)
    service = incident.app.state.regulator_report_service
    for _ in range(3):  # more ticks raise nothing more
        await service.tick()
    events = await read_events(
        incident.settings.kafka_bootstrap,
        "incident.events",
        lambda e: isinstance(e, RegulatorReportOverdue) and str(e.payload.report_id) == report["id"],
        1,
    )
    assert len(events) == 1
    assert events[0][0].payload.due_at == detected + timedelta(hours=1)
    assert events[0][0].payload.rule_id == "major_outage"

    metrics = (await incident.client.get("/metrics")).text
    assert _metric(metrics, "incident_regulator_reports_overdue_total", stage="first") == overdue_before + 1
    assert _metric(metrics, "incident_regulator_reports", state="overdue") >= 1

    # Sent late: no longer overdue, and the record says it was late.
    sent = await incident.client.post(
        f"/v1/regulator-reports/{report['id']}/stages/first/sent", json={"via": "传真"}, headers=OPERATOR
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["report"]["first"]["sent_late"] is True
    assert sent.json()["report"]["state"] == "due"


async def test_two_replicas_raising_one_incident_make_one_report_and_one_alert(
    replicas: tuple[list[Any], list[httpx.AsyncClient], Any],
) -> None:
    apps, clients, clock = replicas
    opened = await _open(clients[0], severity="critical", title="短信发送缓慢")
    assert await _report_of(clients[0], opened["id"]) == []  # not a major outage: none
    raised = await asyncio.gather(
        *(
            c.patch(f"/v1/incidents/{opened['id']}", json={"severity": "major_outage"}, headers=OPERATOR)
            for c in clients
        )
    )
    assert [r.status_code for r in raised] == [200, 200]
    [report] = await _report_of(clients[1], opened["id"])
    clock.advance(timedelta(hours=2))
    counts = await asyncio.gather(*(a.state.regulator_report_service.tick() for a in apps))
    events = await read_events(
        apps[0].state.runtime.settings.kafka_bootstrap,
        "incident.events",
        lambda e: isinstance(e, RegulatorReportOverdue) and str(e.payload.report_id) == report["id"],
        1,
    )
    assert len(events) == 1
    assert sum(counts) >= 1


async def test_a_report_sent_in_time_never_goes_overdue(incident: Running) -> None:
    opened = await _open(incident.client)
    [report] = await _report_of(incident.client, opened["id"])
    rid = report["id"]
    agent = await incident.client.post(
        f"/v1/regulator-reports/{rid}/stages/first/sent",
        json={"via": "传真"},
        headers=incident.staff(Role.AGENT),
    )
    problem_of(agent, 403, "role_required")
    final_first = await incident.client.post(
        f"/v1/regulator-reports/{rid}/stages/final/sent", json={"via": "传真"}, headers=OPERATOR
    )
    problem_of(final_first, 409, "first_report_not_sent")
    incident.clock.advance(timedelta(minutes=20))
    sent = await incident.client.post(
        f"/v1/regulator-reports/{rid}/stages/first/sent",
        json={"via": "通信管理局网上报送系统", "reference": "粤通报〔2026〕12号"},
        headers=incident.staff(Role.SUPERVISOR),
    )
    assert sent.status_code == 200, sent.text
    first = sent.json()["report"]["first"]
    assert first["state"] == "sent"
    assert first["sent_by"] == "supervisor 一号 (supervisor1)"
    assert first["reference"] == "粤通报〔2026〕12号"
    not_resolved = await incident.client.post(
        f"/v1/regulator-reports/{rid}/stages/final/sent", json={"via": "传真"}, headers=OPERATOR
    )
    problem_of(not_resolved, 409, "incident_not_resolved")

    incident.clock.advance(timedelta(hours=3))
    await incident.app.state.regulator_report_service.tick()
    [now] = await _report_of(incident.client, opened["id"])
    assert now["state"] == "due"  # the final report awaits resolution
    resolved = await incident.client.post(f"/v1/incidents/{opened['id']}/resolve", json={}, headers=OPERATOR)
    assert resolved.status_code == 200, resolved.text
    [now] = await _report_of(incident.client, opened["id"])
    resolved_at = datetime.fromisoformat(resolved.json()["incident"]["resolved_at"])
    assert datetime.fromisoformat(now["final"]["due_at"]) == resolved_at + timedelta(days=5)
    final = await incident.client.post(
        f"/v1/regulator-reports/{rid}/stages/final/sent", json={"via": "传真"}, headers=OPERATOR
    )
    assert final.json()["report"]["state"] == "sent"
    incident.clock.advance(timedelta(days=10))
    await incident.app.state.regulator_report_service.tick()
    [now] = await _report_of(incident.client, opened["id"])
    assert now["state"] == "sent"
    overdue = await read_events(
        incident.settings.kafka_bootstrap,
        "incident.events",
        lambda e: isinstance(e, RegulatorReportOverdue) and str(e.payload.report_id) == rid,
        0,
    )
    assert overdue == []


async def test_a_minor_incident_owes_none_and_one_raised_later_owes_one(incident: Running) -> None:
    minor = await _open(incident.client, severity="minor", title="投诉页面偶发缓慢", services=["complaints"])
    assert await _report_of(incident.client, minor["id"]) == []
    for severity in ("major", "major_outage", "major_outage"):
        changed = await incident.client.patch(
            f"/v1/incidents/{minor['id']}", json={"severity": severity}, headers=OPERATOR
        )
        assert changed.status_code == 200, changed.text
    [report] = await _report_of(incident.client, minor["id"])
    # Lowered again before anything was sent: withdrawn, not deleted.
    await incident.client.patch(
        f"/v1/incidents/{minor['id']}", json={"severity": "critical"}, headers=OPERATOR
    )
    [withdrawn] = await _report_of(incident.client, minor["id"])
    assert withdrawn["id"] == report["id"]
    assert withdrawn["state"] == "withdrawn"
    refused = await incident.client.post(
        f"/v1/regulator-reports/{report['id']}/stages/first/sent", json={"via": "传真"}, headers=OPERATOR
    )
    problem_of(refused, 409, "regulator_report_withdrawn")


async def test_the_figures_come_from_sms_status_and_the_document_shows_them(incident: Running) -> None:
    started = incident.clock.now() - timedelta(minutes=30)
    product = f"P{uuid.uuid4().hex[:6].upper()}"
    opened = await _open(
        incident.client, products=[product], impact_started_at=started.astimezone(UTC).isoformat()
    )

    def state(
        recipient: str, status: MessageStatus, delay_s: float | None, at: datetime
    ) -> MessageStatusChanged:
        return MessageStatusChanged(
            payload=MessageState(
                message_id=uuid.uuid4(),
                partner_id=None,
                recipient=recipient,
                status=status,
                segments_total=1,
                segments=[],
                accepted_at=at,
                submitted_at=None if delay_s is None else at + timedelta(seconds=delay_s),
                product_code=product,
            )
        )

    inside = started + timedelta(minutes=5)
    events = [
        state("8613800000001", MessageStatus.SUBMITTED, 30.0, inside),  # delayed
        state("8613800000001", MessageStatus.FAILED, None, inside),  # failed, same user
        state("8613800000002", MessageStatus.SUBMITTED, 9.0, inside),  # delayed
        state("8613800000003", MessageStatus.SUBMITTED, 1.0, inside),  # in time: not counted
        state("8613800000004", MessageStatus.FAILED, None, started - timedelta(minutes=5)),  # before
    ]
    producer = AIOKafkaProducer(bootstrap_servers=incident.settings.kafka_bootstrap)
    await producer.start()
    try:
        for event in [*events, events[0]]:  # one redelivered
            await producer.send_and_wait("sms.status", encode_event(event), key=event.key().encode())
    finally:
        await producer.stop()
    [report] = await _report_of(incident.client, opened["id"])
    patched = await incident.client.patch(
        f"/v1/regulator-reports/{report['id']}",
        json={"cause": "短信中心绑定全部断开。\n运营商侧升级未通知。", "actions": "切换至备用通道"},
        headers=OPERATOR,
    )
    assert patched.status_code == 200, patched.text

    async def counted() -> dict[str, Any]:
        doc = (await incident.client.get(f"/v1/regulator-reports/{report['id']}", headers=OPERATOR)).json()
        assert doc["impact"]["messages_delayed"] == 2, doc["impact"]
        return dict(doc)

    doc = await eventually(counted)
    assert doc["impact"]["messages_failed"] == 1
    assert doc["impact"]["users_affected"] == 2
    assert doc["report"]["cause"].startswith("短信中心")
    assert [e["kind"] for e in doc["incident"]["timeline"]] == ["opened"]

    page = await incident.client.get(f"/staff/regulator-reports/{report['id']}", headers=OPERATOR)
    assert page.status_code == 200
    assert "重大通信故障报告：短信网关全部中断" in page.text
    assert "受影响用户" in page.text
    pdf = await incident.client.get(f"/staff/regulator-reports/{report['id']}.pdf", headers=OPERATOR)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "重大通信故障报告：短信网关全部中断" in text
    assert "2 人" in text
    assert "切换至备用通道" in text

    unsigned = await incident.client.get(f"/staff/regulator-reports/{report['id']}")
    assert unsigned.status_code == 401
    assert "请先在员工控制台登录" in unsigned.text
    missing = await incident.client.get(f"/staff/regulator-reports/{uuid.uuid4()}", headers=OPERATOR)
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


async def test_the_rules_are_data_and_a_report_keeps_the_rule_it_was_made_with(incident: Running) -> None:
    before = await _open(incident.client)
    rules = (
        await incident.client.get("/v1/regulator-report-rules", headers=incident.staff(Role.AGENT))
    ).json()
    [rule] = [r for r in rules if r["id"] == "major_outage"]
    body = {
        "first_within_s": 7200,
        "first_warn_before_s": 600,
        "final_within_s": 3 * 86400,
        "final_warn_before_s": 3600,
        "basis": "测试规则",
    }
    refused = await incident.client.put(
        "/v1/regulator-report-rules/major_outage", json=body, headers=incident.staff(Role.SUPERVISOR)
    )
    problem_of(refused, 403, "role_required")
    invalid = await incident.client.put(
        "/v1/regulator-report-rules/major_outage",
        json={**body, "first_warn_before_s": 7200},
        headers=OPERATOR,
    )
    problem_of(invalid, 422, "regulator_rule_invalid")
    missing = await incident.client.put("/v1/regulator-report-rules/nothing", json=body, headers=OPERATOR)
    problem_of(missing, 404, "regulator_rule_not_found")
    try:
        changed = await incident.client.put(
            "/v1/regulator-report-rules/major_outage", json=body, headers=OPERATOR
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["revision"] == rule["revision"] + 1
        after = await _open(incident.client)
        [old] = await _report_of(incident.client, before["id"])
        [new] = await _report_of(incident.client, after["id"])
        assert old["rule"]["first_within_s"] == 3600
        assert new["rule"]["first_within_s"] == 7200
        assert new["rule"]["revision"] == rule["revision"] + 1
        detected = datetime.fromisoformat(after["detected_at"])
        assert datetime.fromisoformat(new["first"]["due_at"]) == detected + timedelta(hours=2)
    finally:
        restore = {k: rule[k] for k in body}
        await incident.client.put("/v1/regulator-report-rules/major_outage", json=restore, headers=OPERATOR)
