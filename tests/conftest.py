"""The suite as one system for cross-service tests: subscription, sms-sender (API and dispatcher),
complaints and incident on one clock the test moves (the sms-sender's retention reads it), and the SMSC
simulator, on the session's broker and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from complaints.main import create_app as create_complaints
from complaints.settings import ComplaintsSettings
from incident.main import create_app as create_incident
from incident.settings import IncidentSettings
from sms_sender.main import create_app as create_sms_sender
from sms_sender.settings import SmsSenderSettings
from subscription.main import create_app as create_subscription
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve, service_settings_kwargs
from vas_devstack.smsc import SmscSimulator

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class Suite:
    subscription: httpx.AsyncClient
    sms_sender: httpx.AsyncClient
    complaints: httpx.AsyncClient
    incident: httpx.AsyncClient
    smsc: SmscSimulator
    clock: ManualClock
    subscription_db: str
    sms_sender_db: str
    incident_db: str

    async def partner(self, **profile: Any) -> dict[str, Any]:
        """A partner created the real way; returns once the sms-sender accepts its key."""
        body = {"name": f"cp-{uuid.uuid4().hex[:8]}", "profile": {"signature": "【测试】", **profile}}
        created = await self.subscription.post("/v1/partners", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
        partner = created.json()
        partner["headers"] = {"X-API-Key": partner["api_key"]}

        async def known() -> bool:
            return (await self.sms_sender.get("/v1/me", headers=partner["headers"])).status_code == 200

        await eventually(known)
        return partner

    async def product(self, partner: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {
            "code": "P" + uuid.uuid4().hex[:6].upper(),
            "name": "新闻早报",
            "billing_type": "monthly",
            "price_fen": 500,
            "description": "每天早上一条新闻",
            "availability": "全国",
            "how_to_cancel": "回复TD加业务代码，或回复0000按序号退订，免费",
            "charge_rule": "按月收费，订购成功当月收取",
            "fault_hotline": "10086",
            "consult_hotline": "4001234567",
            **fields,
        }
        created = await self.subscription.post("/v1/products", json=body, headers=partner["headers"])
        assert created.status_code == 201, created.text
        product = created.json()
        published = await self.subscription.post(
            f"/v1/products/{product['id']}/publication", headers=partner["headers"]
        )
        assert published.status_code == 200, published.text
        return dict(published.json())

    def texts_to(self, msisdn: str) -> list[str]:
        return [m["text"] for m in self.smsc.messages(destination=msisdn)["messages"] if m["complete"]]

    async def mo(self, msisdn: str, text: str, destination: str = "106900001") -> None:
        assert self.smsc.inject_mo(msisdn, destination, text) >= 1

    async def status_of(self, msisdn: str, code: str) -> str:
        """The status of the user's latest subscription to the product, or "none"."""
        subs = (await self.subscription.get(f"/v1/users/{msisdn}/subscriptions", headers=OPERATOR)).json()
        mine = [s for s in subs if s["product_code"] == code]
        return str(mine[-1]["status"]) if mine else "none"

    async def status_is(self, msisdn: str, code: str, wanted: str) -> bool:
        got = await self.status_of(msisdn, code)
        assert got == wanted, f"{code} for {msisdn} is {got}, waiting for {wanted}"
        return True

    def phone(self, msisdn: str) -> Phone:
        return Phone(self, msisdn)


class Phone:
    """A subscriber's handset on the SMSC simulator: sends an MO and reads the texts that arrive
    after it, in order."""

    def __init__(self, suite: Suite, msisdn: str) -> None:
        self.suite = suite
        self.msisdn = msisdn
        self.read = 0

    def inbox(self) -> list[str]:
        return self.suite.smsc.book.received(self.msisdn)

    async def next_text(self, *parts: str) -> str:
        """The first text not read yet; it must contain `parts`."""

        async def arrived() -> str | None:
            texts = self.inbox()
            return texts[self.read] if len(texts) > self.read else None

        text: str = await eventually(arrived)
        self.read += 1
        assert all(p in text for p in parts), f"expected {parts} in {text!r}"
        return text

    async def send(self, text: str, *expected: str) -> str:
        """Send `text`; returns the reply, which must contain `expected`."""
        self.read = len(self.inbox())
        await self.suite.mo(self.msisdn, text)
        return await self.next_text(*expected)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The cross-service tests' broker, apart from the one the services' own tests share: their
    apps report health and leave records on the shared topics, and the suite's incident service
    opens incidents from any sms.health report it reads (which test ran before depends on how
    the test files are spread over the workers)."""
    broker = EmbeddedBroker(tmp_path_factory.mktemp("suite-broker") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def suite(postgres: Any, kafka: Any, smsc: SmscSimulator) -> AsyncIterator[Suite]:
    clock = ManualClock()
    sub_db = await postgres.new_database("sub")
    sms_db = await postgres.new_database("sms")
    complaints_db = await postgres.new_database("cmp")
    incident_db = await postgres.new_database("inc")
    sub_settings = SubscriptionSettings(
        **service_settings_kwargs(sub_db, kafka.bootstrap),
        provider_name="VAS",
        system_access_number="106900001",
    )
    sms_settings = SmsSenderSettings(
        **{
            **service_settings_kwargs(sms_db, kafka.bootstrap),
            "role": "all",
            "smsc_port": smsc.smpp_port,
            "smsc_tps": 0,
            "default_access_number": "106900001",
            # health signals quick enough for a test (tests/test_incident_flow.py)
            "health_report_interval_s": 0.2,
            "health_binds_down_after_s": 10.0,
            # Only the binds check fires in suite tests: the session's topics hold earlier tests'
            # messages, and a dispatcher draining them would count their old accept times as
            # send delay (a real backlog does fire it: services/sms-sender/tests/test_health.py).
            "health_send_delay_min_samples": 1_000_000,
            "health_failure_min_samples": 1_000_000,
        }
    )
    complaints_settings = ComplaintsSettings(
        **service_settings_kwargs(complaints_db, kafka.bootstrap),
        provider_name="VAS",
        system_access_number="106900001",
    )
    incident_settings = IncidentSettings(
        **service_settings_kwargs(incident_db, kafka.bootstrap),
        provider_name="VAS",
        signal_hold_down_s=30.0,
        signal_tick_interval_s=0.2,
        regulator_tick_interval_s=0.3,
    )
    async with (
        serve(create_subscription(sub_settings, clock=clock)) as sub,
        serve(create_sms_sender(sms_settings, clock=clock)) as sms,
        serve(create_complaints(complaints_settings, clock=clock)) as complaints,
        serve(create_incident(incident_settings, clock=clock)) as incident,
    ):
        yield Suite(sub, sms, complaints, incident, smsc, clock, sub_db, sms_db, incident_db)
