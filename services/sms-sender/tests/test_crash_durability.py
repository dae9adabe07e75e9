"""Crash tests with real processes and SIGKILL: a 202 is never lost, and a dispatcher killed
mid-run loses nothing (the replica that takes over resends at most what was in flight).

Each test has a broker of its own: the dev broker (Tansu) can leave a consumer group stuck in
a rebalance after a member is SIGKILLed, which must not leak into other tests. (Production
Kafka expires the dead member after its session timeout.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sms_sender.main import create_app
from vas_common.kafka import EventPublisher
from vas_common.settings import ServiceSettings
from vas_common.telemetry import Metrics
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.procs import ServiceProcess
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve
from vas_devstack.smsc import SmscSimulator

pytestmark = pytest.mark.e2e


def process_env(database: str, kafka: Any, smsc: SmscSimulator, role: str) -> dict[str, str]:
    return {
        "SMS_SENDER_ROLE": role,
        "SMS_SENDER_DATABASE_URL": database,
        "SMS_SENDER_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "SMS_SENDER_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "SMS_SENDER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "SMS_SENDER_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "SMS_SENDER_SMSC_PORT": str(smsc.smpp_port),
        "SMS_SENDER_SMSC_RESPONSE_TIMEOUT_S": "2",
        "SMS_SENDER_OUTBOX_POLL_INTERVAL_S": "0.2",
        "SMS_SENDER_LOG_JSON": "false",
        # make_partner polls with the key until the process has learnt it (as in-process tests do).
        "SMS_SENDER_AUTH_FAILURES_PER_WINDOW": "100000",
    }


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """This module's tests use a broker of their own (see the module docstring)."""
    return own_broker


@pytest.fixture
async def publisher(own_broker: EmbeddedBroker) -> AsyncIterator[EventPublisher]:
    pub = EventPublisher(ServiceSettings(kafka_bootstrap=own_broker.bootstrap), Metrics("test"))
    await pub.start()
    yield pub
    await pub.stop()


@pytest.fixture
async def api(database: str, kafka: Any, sms_settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(sms_settings(database, kafka, role="api"))) as client:
        yield client


def numbers(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


async def send_batch(
    client: httpx.AsyncClient, partner: Any, product: str, recipients: list[str], text: str
) -> dict[str, str]:
    """The product's content to the recipients: message id -> recipient, in requests of 100."""
    sent: dict[str, str] = {}
    for start in range(0, len(recipients), 100):
        response = await client.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": recipients[start : start + 100], "content": text, "product_code": product},
        )
        assert response.status_code == 202, response.text
        sent |= {a["message_id"]: a["recipient"] for a in response.json()["accepted"]}
    return sent


async def delivered(client: httpx.AsyncClient, partner: Any, ids: list[str]) -> bool:
    pending = []
    for message_id in ids:
        message = (await client.get(f"/v1/messages/{message_id}", headers=partner.headers)).json()
        if message["status"] != "delivered":
            pending.append(message)
    assert not pending, f"{len(pending)} of {len(ids)} not delivered yet, e.g. {pending[:2]}"
    return True


def smsc_report(smsc: SmscSimulator, recipients: list[str]) -> tuple[list[str], int]:
    """(recipients never seen, extra copies seen) for our recipients."""
    missing: list[str] = []
    duplicates = 0
    for recipient in recipients:
        copies = smsc.messages(destination=recipient)["messages"]
        if not copies:
            missing.append(recipient)
        duplicates += sum(m["duplicates"] for m in copies) + max(0, len(copies) - 1)
    return missing, duplicates


async def test_dispatcher_killed_mid_run_loses_nothing(
    api: httpx.AsyncClient,
    make_partner: Any,
    make_product: Any,
    smsc: SmscSimulator,
    database: str,
    kafka: Any,
    tmp_path: Path,
) -> None:
    partner = await make_partner(api)()
    subscribers = numbers("1358888", 400)
    product = await make_product(partner, subscribers)
    smsc.update_config(tps=60)  # 2 binds x 60/s: the run takes seconds, so the kill lands mid-run
    env = process_env(database, kafka, smsc, "dispatcher")
    first = ServiceProcess("sms_sender.main:create_app", env, tmp_path / "dispatcher-1.log")
    await first.start()
    try:
        sent = await send_batch(api, partner, product, subscribers, "崩溃恢复测试")
        await eventually(lambda: _accepted_at_least(smsc, 100))
        await first.kill()
        killed_at = smsc.stats()["submit_sm_accepted"]
        assert killed_at < 400, "the dispatcher finished before it was killed; the test proves nothing"
    finally:
        await first.kill()
    second = ServiceProcess("sms_sender.main:create_app", env, tmp_path / "dispatcher-2.log")
    await second.start()
    try:
        await eventually(lambda: delivered(api, partner, list(sent)), timeout_s=90)
    finally:
        await second.stop()
    missing, duplicates = smsc_report(smsc, sorted(set(sent.values())))
    print(f"\nkilled after {killed_at} of 400 submits; duplicates at the SMSC: {duplicates}")
    assert missing == []
    assert duplicates <= killed_at  # at most what was in flight when it died


async def _accepted_at_least(smsc: SmscSimulator, n: int) -> bool:
    return int(smsc.stats()["submit_sm_accepted"]) >= n


async def test_api_killed_right_after_202_loses_nothing(
    make_partner: Any, make_product: Any, smsc: SmscSimulator, database: str, kafka: Any, tmp_path: Path
) -> None:
    env = process_env(database, kafka, smsc, "api")
    api_process = ServiceProcess("sms_sender.main:create_app", env, tmp_path / "api.log")
    try:
        await api_process.start()
        async with httpx.AsyncClient(base_url=api_process.url, timeout=10) as client:
            partner = await make_partner(client)()
            subscribers = numbers("1357777", 300)
            product = await make_product(partner, subscribers)
            sent = await send_batch(client, partner, product, subscribers, "接受即持久")
    finally:
        await api_process.kill()  # at once: its outbox relay may not have published everything

    dispatcher = ServiceProcess(
        "sms_sender.main:create_app", process_env(database, kafka, smsc, "all"), tmp_path / "all.log"
    )
    await dispatcher.start()
    try:
        async with httpx.AsyncClient(base_url=dispatcher.url, timeout=10) as client:
            await eventually(lambda: delivered(client, partner, list(sent)), timeout_s=90)
    finally:
        await dispatcher.stop()
    missing, duplicates = smsc_report(smsc, sorted(set(sent.values())))
    print(f"\nAPI killed after 300 accepted; all delivered, duplicates at the SMSC: {duplicates}")
    assert missing == []
