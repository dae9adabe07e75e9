"""Maintenance notices to subscribers: a window scheduled, rescheduled, cancelled, or its reminder
(incident.events), told by SMS to every active subscriber of its products, and to no one else.

The subscribers are read a page at a time in number order (a product may have millions), and
each page is one transaction: the (window, notice, number) rows that were not there yet, and the
SMS requests (sms.send-requests, through the outbox) for exactly those. A notice redelivered, or
handled on two replicas, finds its rows and sends nothing twice; one that stopped half-way goes
on from where it was. At the end the number told in all is announced (`maintenance.notices_sent`
on subscription.events), for the incident service's records and reports."""

from __future__ import annotations

import logging

import asyncpg

from subscription import maintenance_notices as rules
from subscription.maintenance_notices import MaintenanceNotice
from subscription.repository.maintenance import MaintenanceNoticeRepository
from subscription.service.messaging import Messaging
from vas_common.clock import Clock
from vas_common.events.subscription import MaintenanceNoticeCount, MaintenanceNoticesSent

logger = logging.getLogger(__name__)


class MaintenanceNoticeService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        provider_name: str,
        page_size: int = 500,
        notices: MaintenanceNoticeRepository | None = None,
        messaging: Messaging | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._provider = provider_name
        self._page_size = page_size
        self._notices = notices or MaintenanceNoticeRepository()
        self._messaging = messaging or Messaging()

    async def send(self, notice: MaintenanceNotice, notice_type: str) -> int:
        """Tell every active subscriber of the window's products; returns how many were told by
        this call (0 when all of them had been told before)."""
        after: str | None = None
        told = 0
        while True:
            now = self._clock.now()
            async with self._pool.acquire() as conn, conn.transaction():
                page = await self._notices.active_subscribers(
                    conn, notice.product_codes, after, self._page_size
                )
                if not page:
                    break
                sends = [(s.msisdn, rules.request_id(notice, s.msisdn)) for s in page]
                new = await self._notices.mark_sent(conn, notice.window_id, notice.notice, sends, now)
                async with self._messaging.batched(conn):
                    for subscriber, (msisdn, request) in zip(page, sends, strict=True):
                        if msisdn not in new:
                            continue
                        await self._messaging.sms(
                            conn,
                            msisdn,
                            rules.notice_text(self._provider, notice, subscriber.product_names),
                            now,
                            purpose=rules.PURPOSE,
                            request_id=request,
                            product_code=subscriber.product_codes[0],
                        )
            told += len(new)
            after = page[-1].msisdn
        async with self._pool.acquire() as conn, conn.transaction():
            total = await self._notices.sent_count(conn, notice.window_id, notice.notice)
            await self._messaging.publish(
                conn,
                MaintenanceNoticesSent(
                    payload=MaintenanceNoticeCount(
                        window_id=notice.window_id,
                        notice=notice.notice,
                        notice_type=notice_type,
                        product_codes=list(notice.product_codes),
                        subscribers_notified=total,
                        completed_at=self._clock.now(),
                    )
                ),
            )
        logger.info(
            "maintenance notice %s/%d (%s): %d subscribers told, %d by this delivery",
            notice.window_id,
            notice.notice,
            notice.kind.value,
            total,
            told,
        )
        return told
