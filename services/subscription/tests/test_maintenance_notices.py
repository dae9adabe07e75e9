"""Maintenance notices from incident.events, on the real database and broker: every active
subscriber of the window's products is sent one SMS request per notice (sms.send-requests), in
Shanghai time, and no one else; a notice delivered again, or paged through in small pages, sends
nothing twice; the count told in all is announced on subscription.events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from subscription import domain
from subscription.domain import BillingType, Product, ProductStatus, SubscriptionStatus
from subscription.main import create_app
from subscription.maintenance_notices import (
    MaintenanceNotice,
    NoticeKind,
    notice_text,
    period_text,
    request_id,
)
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.settings import SubscriptionSettings
from vas_common.clock import ManualClock
from vas_common.events import Event
from vas_common.events.incident_maintenance import (
    MaintenanceCancelled,
    MaintenanceRescheduled,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceWindowState,
)
from vas_common.events.sms_requests import SendRequested
from vas_common.events.subscription import MaintenanceNoticesSent
from vas_common.events.topics import INCIDENT_EVENTS, SMS_SEND_REQUESTS, SUBSCRIPTION_EVENTS
from vas_common.kafka import EventPublisher
from vas_devstack.pytest_plugin import read_events, serve, service_settings_kwargs

# 2026-12-06 18:00 UTC is 12月7日 02:00 in Shanghai.
START = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


@dataclass
class Env:
    pool: asyncpg.Pool
    clock: ManualClock


@pytest.fixture
async def env(database: str, kafka: Any) -> AsyncIterator[Env]:
    clock = ManualClock()
    settings = SubscriptionSettings(
        **service_settings_kwargs(database, kafka.bootstrap), maintenance_notice_page_size=2
    )
    app = create_app(settings, clock=clock)
    async with serve(app):
        yield Env(app.state.runtime.db(), clock)


def msisdn() -> str:
    return f"86138{uuid.uuid4().int % 10**8:08d}"


async def product_with(env: Env, name: str, subscribers: dict[str, SubscriptionStatus]) -> str:
    now = env.clock.now()
    partner, _ = domain.new_partner(f"cp-{uuid.uuid4().hex[:8]}", now)
    code = "M" + uuid.uuid4().hex[:6].upper()
    product = Product(
        uuid.uuid4(), partner.id, code, name, BillingType.MONTHLY, 300,
        "d", "a", "c", "r", "1", "2", "full", "full", ProductStatus.PUBLISHED, None, now, now,
    )  # fmt: skip
    async with env.pool.acquire() as conn:
        await PartnerRepository().insert(conn, partner)
        await ProductRepository().insert(conn, product)
        subs = SubscriptionRepository()
        for user, status in subscribers.items():
            sub_id = uuid.uuid4()
            await subs.insert_pending(conn, sub_id, user, product.id, "sms", now, now + timedelta(hours=24))
            if status is not SubscriptionStatus.PENDING:
                await subs.set_status(conn, sub_id, status, now)
    return code


def window(codes: list[str], notice: int = 1, **changes: Any) -> MaintenanceWindowState:
    return MaintenanceWindowState(
        **{
            "window_id": uuid.uuid4(),
            "notice": notice,
            "status": "scheduled",
            "product_codes": codes,
            "services": [],
            "starts_at": START,
            "ends_at": START + timedelta(hours=4),
            "text_zh": "系统升级。",
            "occurred_at": datetime.now(UTC),
            **changes,
        }
    )


async def requests_for(kafka: Any, window_id: uuid.UUID, notice: int) -> list[SendRequested]:
    """The SMS requests of one notice, as they stand on the topic."""

    def ours(event: Event) -> bool:
        return isinstance(event, SendRequested) and event.payload.request_id == request_id(
            MaintenanceNotice(window_id, notice, NoticeKind.SCHEDULED, (), START, START, ""),
            event.payload.recipient,
        )

    return [e for e, _ in await read_events(kafka.bootstrap, SMS_SEND_REQUESTS.name, ours, 0)]


async def counts(kafka: Any, window_id: uuid.UUID, notice: int, deliveries: int = 1) -> list[int]:
    """The totals announced for a notice, once each delivery of it has been handled."""

    def ours(event: Event) -> bool:
        return (
            isinstance(event, MaintenanceNoticesSent)
            and event.payload.window_id == window_id
            and event.payload.notice == notice
        )

    found = await read_events(kafka.bootstrap, SUBSCRIPTION_EVENTS.name, ours, deliveries)
    return [e.payload.subscribers_notified for e, _ in found]


def test_the_time_is_told_in_shanghai_time() -> None:
    assert period_text(START, START + timedelta(hours=4)) == "12月7日 02:00至06:00"
    assert (
        period_text(START + timedelta(hours=2), START + timedelta(hours=24)) == "12月7日 04:00至12月8日 02:00"
    )
    moved = MaintenanceNotice(
        uuid.uuid4(), 2, NoticeKind.RESCHEDULED, ("NEWS",), START + timedelta(days=1),
        START + timedelta(days=1, hours=2), "升级", START, START + timedelta(hours=4),
    )  # fmt: skip
    text = notice_text("VAS", moved, ["新闻早报"])
    assert "12月8日 02:00至04:00（北京时间）" in text
    assert "原定12月7日 02:00至06:00" in text
    assert "“新闻早报”" in text


async def test_every_active_subscriber_of_the_products_is_told_once_and_no_one_else(
    env: Env, publisher: EventPublisher, kafka: Any
) -> None:
    active = sorted(msisdn() for _ in range(5))  # more than two pages of two
    both, pending, cancelled, bystander = msisdn(), msisdn(), msisdn(), msisdn()
    news = await product_with(
        env,
        "新闻早报",
        {
            **dict.fromkeys(active, SubscriptionStatus.ACTIVE),
            both: SubscriptionStatus.ACTIVE,
            pending: SubscriptionStatus.PENDING,
            cancelled: SubscriptionStatus.CANCELLED,
        },
    )
    jokes = await product_with(env, "笑话大全", {both: SubscriptionStatus.ACTIVE})
    await product_with(env, "天气预报", {bystander: SubscriptionStatus.ACTIVE})  # not affected

    scheduled = MaintenanceScheduled(payload=window([news, jokes.lower()]))
    for event in (scheduled, scheduled, MaintenanceStarted(payload=scheduled.payload)):
        await publisher.publish(INCIDENT_EVENTS, event)  # delivered twice; a start is no notice
    assert await counts(kafka, scheduled.payload.window_id, 1, deliveries=2) == [6, 6]  # the same total
    sent = await requests_for(kafka, scheduled.payload.window_id, 1)
    assert sorted(r.payload.recipient for r in sent) == sorted([*active, both])  # once each
    [to_both] = [r for r in sent if r.payload.recipient == both]
    assert (
        "“新闻早报”、“笑话大全”" in to_both.payload.text or "“笑话大全”、“新闻早报”" in to_both.payload.text
    )
    assert all("12月7日 02:00至06:00（北京时间）" in r.payload.text for r in sent)
    assert all("系统升级" in r.payload.text for r in sent)

    moved = MaintenanceRescheduled(
        payload=window(
            [news],
            notice=2,
            window_id=scheduled.payload.window_id,
            starts_at=START + timedelta(days=1),
            ends_at=START + timedelta(days=1, hours=3),
            previous_starts_at=START,
            previous_ends_at=START + timedelta(hours=4),
        )
    )
    await publisher.publish(INCIDENT_EVENTS, moved)
    assert await counts(kafka, scheduled.payload.window_id, 2) == [6]
    again = await requests_for(kafka, scheduled.payload.window_id, 2)
    assert sorted(r.payload.recipient for r in again) == sorted([*active, both])
    assert all("改为12月8日 02:00至05:00（北京时间）" in r.payload.text for r in again)

    off = MaintenanceCancelled(payload=window([news], notice=3, window_id=scheduled.payload.window_id))
    await publisher.publish(INCIDENT_EVENTS, off)
    assert await counts(kafka, scheduled.payload.window_id, 3) == [6]
    told = await requests_for(kafka, scheduled.payload.window_id, 3)
    assert len(told) == 6
    assert all("已取消" in r.payload.text for r in told)

    rows = await env.pool.fetchval(
        "SELECT count(*) FROM maintenance_notices_sent WHERE window_id = $1", scheduled.payload.window_id
    )
    assert rows == 18
