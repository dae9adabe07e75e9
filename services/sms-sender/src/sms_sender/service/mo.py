"""User-originated (MO) messages: single ones published at once, concatenated ones once every
part is in; published through the outbox in the inbound transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter

from sms_sender.connectors import Inbound
from sms_sender.repository.mo import MoRepository
from vas_common.db import DbConnection
from vas_common.events.sms_sender import MoMessage, MoReceived
from vas_common.events.topics import SMS_MO
from vas_common.outbox import OutboxRepository
from vas_common.smpp.text import decode_payload, split_udh


class MoIntake:
    def __init__(
        self,
        mo_total: Counter,
        *,
        mo: MoRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._mo_total = mo_total
        self._mo = mo or MoRepository()
        self._outbox = outbox or OutboxRepository()

    async def store(self, conn: DbConnection, items: Sequence[Inbound], now: datetime) -> int:
        """In the caller's transaction: keep the parts, publish the messages that are whole.
        Returns how many were published (counted once the caller has committed)."""
        events: list[MoReceived] = []
        for item in items:
            event = await self._event(conn, item, now)
            if event is not None:
                events.append(event)
        await self._outbox.enqueue_many(conn, [(SMS_MO, e) for e in events])
        return len(events)

    def published(self, count: int) -> None:
        self._mo_total.inc(count)

    async def _event(self, conn: DbConnection, item: Inbound, now: datetime) -> MoReceived | None:
        segment = split_udh(item.short_message, item.esm_class)
        msisdn = item.source_addr.lstrip("+")
        if segment.reference is None or segment.total <= 1:
            text = decode_payload(segment.payload, item.data_coding)
            parts = 1
        else:
            stored = await self._mo.add_part(
                conn,
                msisdn,
                item.destination_addr,
                segment.reference,
                segment.total,
                segment.sequence,
                item.data_coding,
                segment.payload,
            )
            if stored is None:
                return None  # more parts to come
            text = "".join(decode_payload(p.payload, p.data_coding) for p in stored)
            parts = segment.total
        return MoReceived(
            payload=MoMessage(
                mo_id=uuid.uuid4(),
                msisdn=msisdn,
                destination=item.destination_addr,
                text=text,
                received_at=now,
                parts=parts,
            )
        )
