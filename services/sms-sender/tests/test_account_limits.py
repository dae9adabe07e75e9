"""The operator's limits are the SMSC account's, shared by however many dispatchers run: each
live dispatcher leases its share of the account's binds and TPS in PostgreSQL (issue #19).

The module's tests use a broker of their own: three in-process dispatchers join and leave the
consumer groups together, which must not leave a group of the shared broker mid-rebalance."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest

from sms_sender.main import create_app
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, serve
from vas_devstack.smsc import SmscSimulator

ACCOUNT_BINDS = 3
ACCOUNT_TPS = 20.0
MESSAGES = 120  # six seconds' worth at the account's TPS


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the test's own (the conftest's publisher follows it)."""
    return own_broker


async def test_three_dispatchers_together_keep_the_accounts_binds_and_tps(
    database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any, make_partner: Any
) -> None:
    # The simulator enforces the account's TPS over all its binds (ESME_RTHROTTLED beyond it,
    # bursts up to one second's worth) and counts the most binds the account held at once.
    smsc.config.account_tps = ACCOUNT_TPS
    dispatcher = sms_settings(
        database,
        kafka,
        role="dispatcher",
        smsc_port=smsc.smpp_port,
        smsc_binds=ACCOUNT_BINDS,
        smsc_tps=0,  # no per-bind cap: only the account's
        smsc_account_tps=ACCOUNT_TPS,
        smsc_response_timeout_s=2.0,
        smsc_lease_heartbeat_s=0.5,
        smsc_lease_ttl_s=3.0,
    )
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(serve(create_app(sms_settings(database, kafka, role="api"))))
        apps = [create_app(dispatcher) for _ in range(3)]
        dispatchers = [await stack.enter_async_context(serve(app)) for app in apps]

        async def every_dispatcher_has_its_bind() -> bool:
            answers = [(await d.get("/readyz")).status_code for d in dispatchers]
            assert answers == [200] * 3, answers
            return True

        await eventually(every_dispatcher_has_its_bind, timeout_s=60)

        def every_dispatcher_has_partitions() -> bool:
            return all(all(r.assignment() for r in app.state.runtime.consumers) for app in apps)

        await eventually(every_dispatcher_has_partitions, timeout_s=60)

        partner = await make_partner(api)()
        recipients = [f"1390000{i:04d}" for i in range(MESSAGES)]
        for start in range(0, MESSAGES, 40):
            answer = await api.post(
                "/v1/messages",
                headers=partner.headers,
                json={"recipients": recipients[start : start + 40], "content": "hi", "category": "notice"},
            )
            assert answer.status_code == 202, answer.text

        async def all_submitted() -> bool:
            assert smsc.counters.submit_sm_accepted >= MESSAGES, smsc.counters
            return True

        await eventually(all_submitted, timeout_s=60)
        assert smsc.counters.submit_sm_throttled == 0, smsc.counters
        assert smsc.counters.binds_peak <= ACCOUNT_BINDS, smsc.counters
        # The work was spread: more than one dispatcher's binds submitted.
        assert len({r.session_id for r in smsc.records}) > 1
        conn = await asyncpg.connect(database)
        try:
            members = await conn.fetchval("SELECT count(*) FROM smsc_account_members")
        finally:
            await conn.close()
        assert members == 3
