"""The later quality promises through the whole stack: users order and cancel by SMS through the
SMSC simulator, the subscription service publishes what happened on subscription.events, and the
incident service's month report counts the orders (confirmed, withdrawn) and times the TD to the
cancellation; content the partner tries to send after it is refused by the sms-sender, so nothing
reaches the user after the unsubscription."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _promises(suite: Suite, month: str) -> dict[str, dict[str, Any]]:
    got = await suite.incident.get(f"/v1/quality/reports/{month}", headers=OPERATOR)
    assert got.status_code == 200, got.text
    return {p["key"]: p for p in got.json()["promises"]}


async def test_orders_and_a_td_by_sms_reach_the_quality_report(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="星座运势", price_fen=200)
    code = product["code"]
    keen, unsure = suite.phone("8613710007001"), suite.phone("8613710007002")
    month = suite.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")

    await keen.send(code, "回复Y")
    await keen.send("Y", "成功订购")
    await unsure.send(code, "回复Y")
    await unsure.send(f"TD{code}", "未收取任何费用")  # withdrawn before a Y
    await keen.send(f"TD{code}", "退订")
    await eventually(lambda: suite.status_is(keen.msisdn, code, "cancelled"))
    # The partner's content after the cancellation is refused: nothing reaches the user.
    late = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={"recipients": [keen.msisdn], "content": f"{code} 今日运势", "product_code": code},
    )
    assert late.status_code == 422, late.text

    async def counted() -> dict[str, dict[str, Any]] | None:
        keys = await _promises(suite, month)
        reg, unsub = keys["registration_success"]["figures"], keys["unsubscribe"]["figures"]
        done = reg["confirmed"] >= 1 and reg["withdrawn"] >= 1 and unsub["timed"] >= 1
        return keys if done else None

    keys = await eventually(counted, timeout_s=30)
    reg = keys["registration_success"]
    assert reg["figures"]["orders"] >= 2
    unsub = keys["unsubscribe"]
    # The shared clock stands still: the TD and its effect carry the same instant.
    assert unsub["figures"]["p99_s"] is not None
    assert unsub["figures"]["p99_s"] <= 60
    assert unsub["figures"]["messages_after"] == 0
    assert unsub["figures"]["charges_after"] == 0
    assert unsub["met"] is True
