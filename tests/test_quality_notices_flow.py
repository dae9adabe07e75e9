"""Notices on time through the stack: the subscription service schedules a product's
discontinuation (≥ 30 days) and a user's suspension (≥ 24 hours) and tells the users; its events
reach the incident service's quality report, which judges each change in the month it takes
effect by when its notice was queued."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _subscribe(suite: Suite, msisdn: str, code: str) -> None:
    await suite.mo(msisdn, code)
    await eventually(lambda: suite.status_is(msisdn, code, "pending"))
    await suite.mo(msisdn, "Y")
    await eventually(lambda: suite.status_is(msisdn, code, "active"))


async def _notices(suite: Suite, month: str) -> dict[str, Any]:
    got = await suite.incident.get(f"/v1/quality/reports/{month}", headers=OPERATOR)
    assert got.status_code == 200, got.text
    [notices] = [p for p in got.json()["promises"] if p["key"] == "notices_on_time"]
    return dict(notices)


async def test_discontinuations_and_suspensions_reach_the_report_on_time(suite: Suite) -> None:
    # A month of this test's own (the topics carry the other tests' notices, near today).
    suite.clock.advance(datetime(2034, 2, 6, 10, 0, tzinfo=SHANGHAI) - suite.clock.now())
    partner = await suite.partner()
    product = await suite.product(partner, name="老业务")
    kept = await suite.product(partner, name="围棋课堂")
    user, idle = "8613760000001", "8613760000002"
    await _subscribe(suite, user, product["code"])
    await _subscribe(suite, user, kept["code"])

    discontinued = await suite.subscription.post(
        f"/v1/products/{product['id']}/discontinuation",
        headers=partner["headers"],
        json={
            "effective_at": datetime(2034, 3, 10, 10, 0, tzinfo=SHANGHAI).isoformat(),
            "reason": "业务调整",
        },
    )
    assert discontinued.status_code == 200, discontinued.text
    for msisdn, expected in ((user, 2), (idle, 0)):  # the idle number has nothing to suspend
        suspended = await suite.subscription.post(
            f"/v1/users/{msisdn}/suspensions",
            headers=OPERATOR,
            json={
                "effective_at": datetime(2034, 3, 12, 10, 0, tzinfo=SHANGHAI).isoformat(),
                "reason": "欠费",
            },
        )
        assert suspended.status_code == 202, suspended.text
        assert suspended.json()["active_subscriptions"] == expected

    async def counted() -> dict[str, Any] | None:
        notices = await _notices(suite, "2034-03")
        figures = notices["figures"]
        return notices if figures["discontinuation"]["given"] and figures["suspension"]["given"] else None

    notices = await eventually(counted, timeout_s=30)
    assert notices["figures"]["discontinuation"] == {"given": 1, "on_time": 1}
    assert notices["figures"]["suspension"] == {"given": 1, "on_time": 1}  # the idle number told no one
    assert notices["met"] is True
    february = await _notices(suite, "2034-02")
    assert february["figures"]["given"] == 0  # judged in the month the change takes effect
