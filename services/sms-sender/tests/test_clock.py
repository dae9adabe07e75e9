"""The app's clock reaches the send path: a manual clock moves the accept time and the 24 hours
an Idempotency-Key answers for, as it moves retention and the health checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sms_sender.main import create_app
from vas_common.clock import ManualClock
from vas_devstack.pytest_plugin import serve


async def test_a_manual_clock_moves_the_accept_time_and_the_idempotency_window(
    database: str, kafka: Any, sms_settings: Callable[..., Any], make_partner: Any
) -> None:
    clock = ManualClock()
    clock.advance(timedelta(days=3))
    async with serve(create_app(sms_settings(database, kafka), clock=clock)) as client:
        partner = await make_partner(client)()
        headers = {**partner.headers, "Idempotency-Key": "order-1"}
        # a number of its own: the submit event may reach another test's dispatcher and SMSC
        recipient = f"1390{uuid.uuid4().int % 10**7:07d}"
        body = {"recipients": [recipient], "content": "通知：明日停水", "category": "notice"}

        async def send() -> str:
            response = await client.post("/v1/messages", json=body, headers=headers)
            assert response.status_code == 202, response.text
            return str(response.json()["accepted"][0]["message_id"])

        first = await send()
        message = await client.get(f"/v1/messages/{first}", headers=partner.headers)
        accepted_at = datetime.fromisoformat(message.json()["accepted_at"])
        assert abs(accepted_at - clock.now()) < timedelta(minutes=1)

        assert await send() == first  # within the key's 24 hours: the first answer again
        clock.advance(timedelta(hours=24, minutes=1))
        assert await send() != first  # the key's 24 hours are over on the service's clock
