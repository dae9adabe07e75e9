"""Service quality through the whole stack: a partner's messages go out through the sms-sender and
the SMSC simulator, quick and then through a slow SMSC period; their statuses on sms.status reach
the incident service's quality roll-ups, and the month's report gives the partner's send delay as
the raw rows of the sms-sender's database have it: the count, the share under 4 s and the max
exactly, the percentiles within the histogram's stated accuracy."""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
Suite = Any  # tests/conftest.py
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _send(suite: Suite, partner: dict[str, Any], first: int, count: int) -> list[str]:
    sent = await suite.sms_sender.post(
        "/v1/messages",
        headers=partner["headers"],
        json={
            "recipients": [f"86137600{n:05d}" for n in range(first, first + count)],
            "content": "您的服务通知",
            "category": "notice",
        },
    )
    assert sent.status_code == 202, sent.text
    return [m["message_id"] for m in sent.json()["accepted"]]


async def _all_submitted(suite: Suite, partner: dict[str, Any], ids: list[str]) -> None:
    async def done() -> bool:
        for message_id in ids:
            found = await suite.sms_sender.get(f"/v1/messages/{message_id}", headers=partner["headers"])
            if found.json()["status"] not in ("submitted", "delivered"):
                return False
        return True

    await eventually(done, timeout_s=30)


def _lower_quantile(ordered: list[float], q: float) -> float:
    return ordered[math.floor(q * (len(ordered) - 1))]


async def test_the_report_gives_the_send_delay_the_raw_rows_have(suite: Suite) -> None:
    partner = await suite.partner()
    ids = await _send(suite, partner, 100, 20)
    await _all_submitted(suite, partner, ids)
    before = suite.smsc.get_config()["submit_latency_ms"]
    suite.smsc.update_config(submit_latency_ms=1200.0)  # a slow SMSC period
    try:
        slow = await _send(suite, partner, 200, 10)
        await _all_submitted(suite, partner, slow)
    finally:
        suite.smsc.update_config(submit_latency_ms=before)

    conn = await asyncpg.connect(suite.sms_sender_db)
    try:
        rows = await conn.fetch(
            "SELECT accepted_at, submitted_at FROM messages WHERE partner_id = $1", partner["id"]
        )
    finally:
        await conn.close()
    delays = sorted((r["submitted_at"] - r["accepted_at"]).total_seconds() for r in rows)
    assert len(delays) == 30
    assert delays[-1] > 1.0  # the slow period shows
    period = rows[0]["accepted_at"].astimezone(SHANGHAI).strftime("%Y-%m")

    async def counted() -> dict[str, Any] | None:
        got = await suite.incident.get(f"/v1/quality/reports/{period}", headers=OPERATOR)
        assert got.status_code == 200, got.text
        mine = [p for p in got.json()["partners"] if p["partner_id"] == partner["id"]]
        return mine[0]["delay"] if mine and mine[0]["delay"]["messages"] >= 30 else None

    delay = await eventually(counted, timeout_s=30)
    assert delay["messages"] == 30  # each message once, whatever its later statuses
    assert delay["within_target"] == sum(d < 4.0 for d in delays)
    assert math.isclose(delay["max_s"], delays[-1], rel_tol=1e-9, abs_tol=1e-6)
    for q, key in ((0.5, "p50_s"), (0.95, "p95_s"), (0.99, "p99_s")):
        exact = _lower_quantile(delays, q)
        assert abs(delay[key] - exact) <= 0.02 * exact + 1e-6, (key, delay[key], exact)

    # The day's hours have them too (all partners: at least these).
    day = rows[0]["accepted_at"].astimezone(SHANGHAI).date().isoformat()
    hours = (await suite.incident.get(f"/v1/quality/days/{day}", headers=OPERATOR)).json()["hours"]
    assert sum(h["delay"]["messages"] for h in hours) >= 30
