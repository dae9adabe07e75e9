"""The first cross-service flow, on the real broker and PostgreSQL: a partner created in the
subscription service can use its key at the sms-sender within seconds, and the trace of the
creating request continues into the sms-sender's consumer span."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sms_sender.main import create_app as create_sms_sender
from sms_sender.settings import SmsSenderSettings
from subscription.main import create_app as create_subscription
from subscription.settings import SubscriptionSettings
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
async def services(postgres: Any, kafka: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    sub_settings = SubscriptionSettings(
        **service_settings_kwargs(await postgres.new_database("sub"), kafka.bootstrap)
    )
    sms_settings = SmsSenderSettings(
        **service_settings_kwargs(await postgres.new_database("sms"), kafka.bootstrap)
    )
    async with serve(create_subscription(sub_settings)) as sub, serve(create_sms_sender(sms_settings)) as sms:
        yield sub, sms


async def test_new_partner_key_works_at_sms_sender_and_trace_continues(
    services: tuple[httpx.AsyncClient, httpx.AsyncClient], span_exporter: Any
) -> None:
    subscription, sms_sender = services
    started = time.monotonic()
    created = await subscription.post("/v1/partners", json={"name": f"cp-flow-{started}"}, headers=OPERATOR)
    assert created.status_code == 201
    partner = created.json()
    key = {"X-API-Key": partner["api_key"]}

    async def accepted() -> bool:
        return (await sms_sender.get("/v1/me", headers=key)).status_code == 200

    await eventually(accepted, timeout_s=10)
    print(f"partner usable at sms-sender {time.monotonic() - started:.2f}s after creation")
    assert (await sms_sender.get("/v1/me", headers=key)).json()["partner_id"] == partner["id"]

    spans = span_exporter.get_finished_spans()
    request_spans = [
        s
        for s in spans
        if s.kind.name == "SERVER"
        and s.attributes.get("http.route") == "/v1/partners"
        and s.attributes.get("http.request.method", s.attributes.get("http.method")) == "POST"
    ]
    assert request_spans, [s.name for s in spans]
    trace_id = request_spans[-1].context.trace_id
    consumer_spans = [
        s
        for s in spans
        if s.kind.name == "CONSUMER"
        and s.context.trace_id == trace_id
        and s.attributes.get("messaging.consumer.group.name") == "sms-sender.subscription-events"
    ]
    assert consumer_spans, "the sms-sender consumer span is not in the creating request's trace"

    # Rotation travels the same way: the old key stops working at the sms-sender too.
    rotated = await subscription.post(f"/v1/partners/{partner['id']}/key-rotations", headers=OPERATOR)
    new_key = {"X-API-Key": rotated.json()["api_key"]}

    async def rotated_everywhere() -> bool:
        old = await sms_sender.get("/v1/me", headers=key)
        new = await sms_sender.get("/v1/me", headers=new_key)
        return old.status_code == 401 and new.status_code == 200

    await eventually(rotated_everywhere, timeout_s=10)
