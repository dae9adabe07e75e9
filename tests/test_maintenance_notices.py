"""Maintenance notices end to end: the incident service refuses a window 71 h ahead; one 72 h
ahead is told by SMS, through the subscription service, the sms-sender and the SMSC, to every
active subscriber of the affected product and to no one else; a reschedule, the reminder a day
before and a cancellation are told again; every text carries the time in Asia/Shanghai; the incident service records how
many subscribers each notice reached."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, problem_of

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
Suite = Any  # tests/conftest.py


async def subscribe(suite: Suite, msisdn: str, code: str, confirm: bool = True) -> None:
    """Ordered by SMS and confirmed with Y (double confirmation), as a user does."""
    await suite.mo(msisdn, code)
    await eventually(lambda: suite.status_is(msisdn, code, "pending"))
    if confirm:
        await suite.mo(msisdn, "Y")
        await eventually(lambda: suite.status_is(msisdn, code, "active"))


def whole_minute_after(moment: datetime) -> datetime:
    return datetime.fromtimestamp(math.ceil(moment.timestamp() / 60) * 60, moment.tzinfo)


def shanghai(starts_at: datetime, ends_at: datetime) -> str:
    """ "12月7日 02:00至06:00", written here independently of the services."""
    start, end = starts_at.astimezone(SHANGHAI), ends_at.astimezone(SHANGHAI)
    assert start.date() == end.date()
    return f"{start.month}月{start.day}日 {start:%H:%M}至{end:%H:%M}（北京时间）"


async def test_maintenance_is_told_72_hours_ahead_to_the_products_subscribers_only_and_again_on_each_change(
    suite: Suite,
) -> None:
    # A morning in Shanghai, so that every window below falls within one day whatever the hour
    # the test runs at (it failed at 22:09: a window across midnight is written differently).
    now = suite.clock.now().astimezone(SHANGHAI)
    morning = now.replace(hour=8, minute=0, second=0, microsecond=0)
    suite.clock.advance((morning if morning > now else morning + timedelta(days=1)) - now)
    partner = await suite.partner()
    affected = await suite.product(partner, name="新闻早报")
    other = await suite.product(partner, name="天气预报")
    subscribers = ["8613790000001", "8613790000002"]
    bystander, undecided = "8613790000003", "8613790000004"
    for msisdn in subscribers:
        await subscribe(suite, msisdn, affected["code"])
    await subscribe(suite, bystander, other["code"])
    await subscribe(suite, undecided, affected["code"], confirm=False)  # never said Y
    phones = {msisdn: suite.phone(msisdn) for msisdn in [*subscribers, bystander, undecided]}

    async def settled() -> bool:  # every confirmation and welcome text has arrived
        return all(len(phone.inbox()) >= 1 for phone in phones.values()) and all(
            len(phones[m].inbox()) >= 2 for m in [*subscribers, bystander]
        )

    await eventually(settled)
    for phone in phones.values():
        phone.read = len(phone.inbox())

    window = {
        "product_codes": [affected["code"]],
        "services": ["sms-sender"],
        "text_zh": "短信平台升级，期间无法订购和接收内容。",
    }
    soon = suite.clock.now() + timedelta(hours=71)
    refused = problem_of(
        await suite.incident.post(
            "/v1/maintenance-windows",
            json={
                **window,
                "starts_at": soon.isoformat(),
                "ends_at": (soon + timedelta(hours=4)).isoformat(),
            },
            headers=OPERATOR,
        ),
        422,
        "maintenance_notice_too_short",
    )
    assert datetime.fromisoformat(refused["earliest_start"]) > soon + timedelta(minutes=59)

    # 72 hours ahead, to the minute (the clock runs on while the request travels).
    start = whole_minute_after(suite.clock.now() + timedelta(hours=72, seconds=5))
    end = start + timedelta(hours=4)
    created = await suite.incident.post(
        "/v1/maintenance-windows",
        json={**window, "starts_at": start.isoformat(), "ends_at": end.isoformat()},
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    window_id = created.json()["id"]
    for msisdn in subscribers:
        text = await phones[msisdn].next_text("新闻早报", shanghai(start, end), "短信平台升级")
        assert text.startswith("【VAS】")

    new_start, new_end = start + timedelta(days=1, hours=1), start + timedelta(days=1, hours=3)
    moved = await suite.incident.put(
        f"/v1/maintenance-windows/{window_id}/schedule",
        json={"starts_at": new_start.isoformat(), "ends_at": new_end.isoformat()},
        headers=OPERATOR,
    )
    assert moved.status_code == 200, moved.text
    for msisdn in subscribers:
        await phones[msisdn].next_text("变更", shanghai(new_start, new_end), "原定")

    # The reminder, a day before the new start (the tick runs by itself too; here it is asked).
    suite.clock.advance(new_start - suite.clock.now() - timedelta(hours=23, minutes=59))
    ticked = await suite.incident.post("/v1/jobs/maintenance-tick", headers=OPERATOR)
    assert ticked.status_code == 200, ticked.text
    for msisdn in subscribers:
        await phones[msisdn].next_text("维护提醒", shanghai(new_start, new_end))

    cancelled = await suite.incident.post(
        f"/v1/maintenance-windows/{window_id}/cancellation", json={"reason": "改用热备切换"}, headers=OPERATOR
    )
    assert cancelled.status_code == 200, cancelled.text
    for msisdn in subscribers:
        await phones[msisdn].next_text("已取消", shanghai(new_start, new_end))

    async def counted() -> list[int | None]:
        detail = (await suite.incident.get(f"/v1/maintenance-windows/{window_id}", headers=OPERATOR)).json()
        notified = [n["subscribers_notified"] for n in detail["notices"]]
        assert notified == [2, 2, 2, 2], detail["notices"]
        return notified

    await eventually(counted)
    # No one else was told of the maintenance, and the subscribers were told each notice once.
    for msisdn in (bystander, undecided):
        assert not [t for t in phones[msisdn].inbox() if "维护" in t], msisdn
    for msisdn in subscribers:
        assert len([t for t in phones[msisdn].inbox() if "维护" in t]) == 4, phones[msisdn].inbox()
