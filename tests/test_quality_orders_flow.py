"""The later quality promises through the whole stack: users order and cancel by SMS through the
SMSC simulator, the subscription service publishes what happened on subscription.events, and the
incident service's month report counts the orders (confirmed, withdrawn) and times the TD to the
cancellation; content the partner tries to send after it is refused by the sms-sender, so nothing
reaches the user after the unsubscription."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, read_events

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def confirmation_is(suite: Suite, msisdn: str, code: str, wanted: str | None) -> bool:
    """Whether the user's latest order of the product knows its confirmation SMS's fate as
    `wanted` (delivered, failed, ...) from sms.status."""
    subs = (await suite.subscription.get(f"/v1/users/{msisdn}/subscriptions", headers=OPERATOR)).json()
    mine = [s for s in subs if s["product_code"] == code]
    got = mine[-1]["confirmation_sms"] if mine else None
    assert got == wanted, f"the confirmation of {code} to {msisdn} is {got}, waiting for {wanted}"
    return True


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


async def test_an_expired_order_says_whether_its_user_answered_and_the_report_judges_the_rate(
    suite: Suite, kafka: Any
) -> None:
    """subscription.expired carries `answered`: true for the user whose answer we could not read
    (or whose Y<n> pointed at nothing), false for the one who never answered. The report counts
    the first as failed, the second apart, and judges the promise once every expiry says it."""
    partner = await suite.partner()
    code = (await suite.product(partner, name="每日一问"))["code"]
    unread, stale, silent = (suite.phone(f"86137100081{i:02d}") for i in range(3))
    month = suite.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    for phone in (unread, stale, silent):
        await phone.send(code, "回复Y")
    await unread.send("嗯嗯", "还在等待您的确认")
    await stale.send("Y7")  # no 7th waiting order: asked again (the reply: the answer is recorded)
    # The silent user had the question: its delivery is known before the order's 24 h are over.
    await eventually(lambda: confirmation_is(suite, silent.msisdn, code, "delivered"))
    suite.clock.advance(timedelta(hours=24, seconds=1))
    expired = await suite.subscription.post("/v1/jobs/expire-pending", headers=OPERATOR)
    assert expired.json()["affected"] >= 3

    mine = {unread.msisdn, stale.msisdn, silent.msisdn}
    events = await read_events(
        kafka.bootstrap,
        "subscription.events",
        lambda e: e.type == "subscription.expired" and e.payload.msisdn in mine,
        3,
    )
    answered = {e.payload.msisdn: (e.payload.answered, e.payload.reason) for e, _ in events}
    assert answered == {
        unread.msisdn: (True, "answer_unmatched"),
        stale.msisdn: (True, "answer_unmatched"),
        silent.msisdn: (False, "never_answered"),
    }

    async def counted() -> dict[str, Any] | None:
        reg = (await _promises(suite, month))["registration_success"]
        return reg if reg["figures"]["expired"] >= 3 else None

    reg = await eventually(counted, timeout_s=30)
    figures = reg["figures"]
    assert figures["expired_unknown"] == 0  # every expiry says whether its user answered
    assert (figures["confirmed"], figures["failed"], figures["never_answered"]) == (0, 2, 1)
    assert figures["failed_by_reason"] == {
        "answer_unmatched": 2,
        "confirmation_undelivered": 0,
        "confirmation_late": 0,
    }
    assert figures["success_rate"] == 0.0
    assert reg["met"] is False  # judged, not a lower bound


async def test_a_confirmation_sms_undelivered_or_not_delivered_in_time_is_a_failure_on_us(
    suite: Suite, kafka: Any
) -> None:
    """The SMSC reports one user's confirmation SMS undeliverable (UNDELIV), and sends no receipt
    for another's (the SMSC keeps trying for 48 h, longer than the order waits); a third user
    gets it and never answers. The orders expire as confirmation_undelivered, confirmation_late
    and never_answered: the first two failed on us, in both services' figures, split by reason;
    the third apart."""
    partner = await suite.partner()
    code = (await suite.product(partner, name="每日一词"))["code"]
    lost, late, silent = (suite.phone(f"86137100082{i:02d}") for i in range(3))
    month = suite.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")

    suite.smsc.update_config(outcomes={"UNDELIV": 1.0})  # drawn when the SMSC takes the message
    await lost.send(code, "回复Y")
    await eventually(lambda: confirmation_is(suite, lost.msisdn, code, "failed"))
    suite.smsc.update_config(outcomes={"DELIVRD": 1.0}, drop_receipts=1.0)
    dropped = suite.smsc.counters.receipts_dropped
    await late.send(code, "回复Y")
    await eventually(lambda: suite.smsc.counters.receipts_dropped > dropped)
    suite.smsc.update_config(drop_receipts=0.0)
    await silent.send(code, "回复Y")
    await eventually(lambda: confirmation_is(suite, silent.msisdn, code, "delivered"))
    assert await confirmation_is(suite, late.msisdn, code, None)  # no receipt: nothing known

    suite.clock.advance(timedelta(hours=24, seconds=1))
    expired = await suite.subscription.post("/v1/jobs/expire-pending", headers=OPERATOR)
    assert expired.json()["affected"] >= 3
    mine = {lost.msisdn, late.msisdn, silent.msisdn}
    events = await read_events(
        kafka.bootstrap,
        "subscription.events",
        lambda e: e.type == "subscription.expired" and e.payload.msisdn in mine,
        3,
    )
    assert {e.payload.msisdn: e.payload.reason for e, _ in events} == {
        lost.msisdn: "confirmation_undelivered",
        late.msisdn: "confirmation_late",
        silent.msisdn: "never_answered",
    }

    success = (await suite.subscription.get("/v1/registration-success", headers=OPERATOR)).json()
    assert (success["failed"], success["never_answered"]) == (2, 1)
    assert success["failed_by_reason"] == {
        "answer_unmatched": 0,
        "confirmation_undelivered": 1,
        "confirmation_late": 1,
    }

    async def counted() -> dict[str, Any] | None:
        reg = (await _promises(suite, month))["registration_success"]
        return reg if reg["figures"]["expired"] >= 3 else None

    figures = (await eventually(counted, timeout_s=30))["figures"]
    assert (figures["failed"], figures["never_answered"], figures["expired_unknown"]) == (2, 1, 0)
    assert figures["failed_by_reason"] == success["failed_by_reason"]


async def test_what_the_content_review_blocks_reaches_the_report_per_category(suite: Suite) -> None:
    """A partner's message refused by the sms-sender's review (422 content_rejected) is counted,
    per rule category, in the month report's content_review promise."""
    partner = await suite.partner()
    month = suite.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    refused = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={
            "recipients": ["8613710009001", "8613710009002"],
            "content": "加入网上刷单赚钱",
            "category": "notice",
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "content_rejected"

    async def counted() -> dict[str, Any] | None:
        review = (await _promises(suite, month))["content_review"]
        return review if review["figures"]["blocked"] else None

    review = await eventually(counted, timeout_s=30)
    assert review["figures"]["blocked_by_category"] == {"fraud": 1}
    assert review["figures"]["blocked_recipients_by_category"] == {"fraud": 2}
    assert review["met"] is True
