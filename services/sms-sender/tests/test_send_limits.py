"""A partner's send limit is one limit however many API replicas serve it: its token bucket is a
row in PostgreSQL that every replica takes from (issue #19).

The module's tests use a broker of their own: two replicas leave their consumer groups together
at the end, which must not leave a group of the shared broker mid-rebalance (Tansu never forms
it again, and every later test's sms-sender would wait for it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import count
from typing import Any

import httpx
import pytest

from sms_sender.main import create_app
from vas_common.clock import ManualClock
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, serve

RATE = 5


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the test's own (the conftest's publisher follows it)."""
    return own_broker


async def _send_until_refused(
    replicas: list[httpx.AsyncClient], headers: dict[str, str], numbers: Any
) -> int:
    """Send one-recipient messages through each replica in turn until every one has answered
    429; the number accepted."""
    accepted = 0
    refused: set[int] = set()
    while len(refused) < len(replicas):
        for i, client in enumerate(replicas):
            if i in refused:
                continue
            answer = await client.post(
                "/v1/messages",
                headers=headers,
                json={"recipients": [f"1381{next(numbers):07d}"], "content": "hi", "category": "notice"},
            )
            if answer.status_code == 202:
                accepted += 1
            else:
                assert answer.status_code == 429, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["code"] == "rate_limited"
                assert answer.json()["limit_per_s"] == RATE
                assert int(answer.headers["retry-after"]) >= 1
                refused.add(i)
    return accepted


async def test_two_api_replicas_together_accept_the_partners_rate(
    database: str, kafka: Any, sms_settings: Any, make_partner: Any
) -> None:
    clock = ManualClock()  # both replicas on one clock: the test moves it a second at a time
    settings = sms_settings(database, kafka)
    async with (
        serve(create_app(settings, clock=clock)) as first,
        serve(create_app(settings, clock=clock)) as second,
    ):
        partner = await make_partner(first)(rate_limit_per_s=RATE)

        async def known_to_second() -> bool:
            return (await second.get("/v1/me", headers=partner.headers)).status_code == 200

        await eventually(known_to_second)
        numbers = count()
        loop = asyncio.get_running_loop()
        # Real time flows too (the ManualClock adds an offset to it) and refills as well: each
        # window's bound allows for the real seconds it took.
        started = loop.time()
        burst = await _send_until_refused([first, second], partner.headers, numbers)
        # The burst is one second's worth in all (each replica had its own: twice that).
        assert RATE <= burst <= RATE * (1 + loop.time() - started), burst
        for _ in range(3):
            # Then a second's worth per second the clock moves on, in all; the bucket held less
            # than one when the window began (the last take was refused).
            started = loop.time()
            clock.advance(timedelta(seconds=1))
            accepted = await _send_until_refused([first, second], partner.headers, numbers)
            assert RATE <= accepted <= RATE * (1 + loop.time() - started) + 1, accepted
