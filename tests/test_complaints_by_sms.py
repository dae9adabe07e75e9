"""Complaints by SMS through the SMSC simulator: a text starting with 投诉 opens a complaint and
is acknowledged with its tracking code (the subscription service leaves it alone); a resolution
asks for a score, and a low score reopens the complaint."""

from __future__ import annotations

import re
from typing import Any

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # the `suite` fixture's object (tests/conftest.py)
COMPLAINTS_NUMBER = "106900001" + "9"  # the access number + the complaints extension


async def complaint_of(suite: Suite, msisdn: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        queue = (await suite.complaints.get("/v1/complaints", headers=OPERATOR)).json()
        mine = [item["complaint"] for item in queue if item["complaint"]["msisdn"] == msisdn]
        return mine[0] if mine else None

    complaint: dict[str, Any] = await eventually(found)
    return complaint


async def resolve(suite: Suite, complaint_id: str) -> None:
    resolved = await suite.complaints.post(
        f"/v1/complaints/{complaint_id}/events", json={"kind": "resolved", "note": "已退费"}, headers=OPERATOR
    )
    assert resolved.status_code == 200, resolved.text


async def detail(suite: Suite, complaint_id: str) -> dict[str, Any]:
    response = await suite.complaints.get(f"/v1/complaints/{complaint_id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_complaint_by_sms_is_acknowledged_scored_and_reopened_when_unsatisfied(suite: Suite) -> None:
    phone = suite.phone("8613770000001")
    ack = await phone.send("投诉 上个月话费多扣了5元", "投诉已受理", "受理编号")
    code = re.search(r"受理编号(TS[0-9A-Z]+)", ack)
    assert code is not None
    complaint = await complaint_of(suite, phone.msisdn)
    assert (complaint["channel"], complaint["summary"], complaint["tracking_code"]) == (
        "sms",
        "上个月话费多扣了5元",
        code.group(1),
    )
    # The subscription service left the complaint alone: the next command is the first it saw.
    await phone.send("0000", "没有订购")
    records = (await suite.subscription.get(f"/v1/users/{phone.msisdn}/records", headers=OPERATOR)).json()
    assert [r["detail"].get("text") for r in records["records"] if r["kind"] == "sms_in"] == ["0000"]

    await resolve(suite, complaint["id"])
    await phone.next_text("已处理完毕", "回复数字评价")
    phone.read = len(phone.inbox())
    await suite.mo(phone.msisdn, "2", destination=COMPLAINTS_NUMBER)

    async def reopened() -> dict[str, Any] | None:
        found = await detail(suite, complaint["id"])
        return found if found["complaint"]["status"] == "open" else None

    after = await eventually(reopened)
    assert after["complaint"]["satisfaction"] == 2
    assert [e["kind"] for e in after["history"]][-2:] == ["satisfaction_recorded", "reopened"]
    assert {c["clock"]: c["state"] for c in after["clocks"]}["closure"] == "running"  # on the clock again

    await resolve(suite, complaint["id"])
    await phone.next_text("已处理完毕")
    await suite.mo(phone.msisdn, "５", destination=COMPLAINTS_NUMBER)

    async def satisfied() -> dict[str, Any] | None:
        found = await detail(suite, complaint["id"])
        return found if found["complaint"]["satisfaction"] == 5 else None

    final = await eventually(satisfied)
    assert final["complaint"]["status"] == "resolved"
