"""What the SMSC delivers (deliver_sm): receipts and MO, stored in one transaction per batch
before the connector answers deliver_sm_resp, so nothing acknowledged is lost. Nothing here
waits for the dispatcher: a receipt that came before its segment's record is parked (see
service/receipts.py) and the loop goes on."""

from __future__ import annotations

import asyncpg

from sms_sender.connectors import Inbound
from sms_sender.connectors.smpp import is_receipt
from sms_sender.service.mo import MoIntake
from sms_sender.service.receipts import ReceiptIntake
from vas_common.clock import Clock


class InboundIntake:
    def __init__(self, pool: asyncpg.Pool, receipts: ReceiptIntake, mo: MoIntake, clock: Clock) -> None:
        self._pool = pool
        self.receipts = receipts
        self._mo = mo
        self._clock = clock

    async def handle(self, items: list[Inbound]) -> None:
        """The connector's inbound handler: returns once the batch is committed."""
        rows = self.receipts.read([i for i in items if is_receipt(i)])
        mo = [i for i in items if not is_receipt(i)]
        parked = self.receipts.in_flight(rows)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            await self.receipts.store(conn, rows, now)
            published = await self._mo.store(conn, mo, now)
        self._mo.published(published)
        self.receipts.park(parked)

    async def stop(self) -> None:
        await self.receipts.stop()
