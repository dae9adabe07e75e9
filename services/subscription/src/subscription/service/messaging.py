"""What every subscription use case does alongside its change, in the same transaction: the
raw record, the event on subscription.events and the SMS to the user (sms.send-requests)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from subscription.domain import Subscription
from subscription.repository.records import OrderRecord, RecordRepository
from vas_common.db import DbConnection
from vas_common.events.envelope import Event
from vas_common.events.sms_requests import SendRequested, SystemMessage
from vas_common.events.sms_sender import Category
from vas_common.events.subscription import SubscriptionState
from vas_common.events.topics import SMS_SEND_REQUESTS, SUBSCRIPTION_EVENTS, Topic
from vas_common.outbox import OutboxRepository
from vas_common.telemetry import current_trace_carrier

# Replies to one MO get ids derived from it, so a redelivered MO cannot send a reply twice.
_REPLY_NAMESPACE = uuid.UUID("5b0c9a57-5d7e-4c63-9a53-8d1e8a2f3c11")


def reply_id(cause: UUID, purpose: str) -> UUID:
    return uuid.uuid5(_REPLY_NAMESPACE, f"{cause}:{purpose}")


def subscription_state(sub: Subscription, status: str, at: datetime) -> SubscriptionState:
    return SubscriptionState(
        subscription_id=sub.id,
        msisdn=sub.msisdn,
        product_code=sub.product_code,
        partner_id=sub.partner_id,
        status=status,
        channel=sub.channel,
        occurred_at=at,
    )


@dataclass
class _Batch:
    """What use cases inside `Messaging.batched` asked for, in order, not yet written."""

    events: list[tuple[Topic, Event, Mapping[str, str]]] = field(default_factory=list)
    records: list[OrderRecord] = field(default_factory=list)


# The batch of the task running inside `batched` (each consumer partition runs in a task of
# its own, so concurrent batches never share one).
_current_batch: ContextVar[_Batch | None] = ContextVar("subscription_messaging_batch", default=None)


class Messaging:
    def __init__(
        self, records: RecordRepository | None = None, outbox: OutboxRepository | None = None
    ) -> None:
        self.records = records or RecordRepository()
        self._outbox = outbox or OutboxRepository()

    @contextlib.asynccontextmanager
    async def batched(self, conn: DbConnection) -> AsyncIterator[None]:
        """Inside, records and events are kept and written at the end, in the order they were
        made, one statement each: a batch of 500 MO writes 2 statements where it wrote 1,500.
        Nothing is written if the block fails; use it inside the transaction."""
        batch = _Batch()
        token = _current_batch.set(batch)
        try:
            yield
        finally:
            _current_batch.reset(token)
        await self._outbox.enqueue_traced(conn, batch.events)
        await self.records.add_many(conn, batch.records)

    async def _enqueue(self, conn: DbConnection, items: list[tuple[Topic, Event]]) -> None:
        batch = _current_batch.get()
        if batch is None:
            await self._outbox.enqueue_many(conn, items)
        else:
            carrier = current_trace_carrier()
            batch.events += [(topic, event, carrier) for topic, event in items]

    async def _add_record(self, conn: DbConnection, record: OrderRecord) -> None:
        batch = _current_batch.get()
        if batch is None:
            await self.records.add_many(conn, [record])
        else:
            batch.records.append(record)

    async def publish(self, conn: DbConnection, *events: Event) -> None:
        await self._enqueue(conn, [(SUBSCRIPTION_EVENTS, e) for e in events])

    async def sms(
        self,
        conn: DbConnection,
        msisdn: str,
        text: str,
        at: datetime,
        *,
        purpose: str,
        request_id: UUID | None = None,
        subscription_id: UUID | None = None,
        product_code: str | None = None,
        ext_code: str | None = None,
    ) -> None:
        """Ask the sms-sender to send `text` (provider identity) and keep the raw record of it."""
        request = SendRequested(
            producer="subscription",
            payload=SystemMessage(
                request_id=request_id or uuid.uuid4(),
                recipient=msisdn,
                text=text,
                category=Category.NOTICE,
                ext_code=ext_code,
                requested_at=at,
                reason=purpose,
            ),
        )
        await self._enqueue(conn, [(SMS_SEND_REQUESTS, request)])
        await self._add_record(
            conn,
            OrderRecord(
                at,
                msisdn,
                "sms_out",
                subscription_id,
                product_code,
                None,
                {"text": text, "purpose": purpose, "request_id": str(request.payload.request_id)},
            ),
        )

    async def record(
        self,
        conn: DbConnection,
        at: datetime,
        msisdn: str,
        kind: str,
        sub: Subscription | None = None,
        channel: str | None = None,
        **detail: Any,
    ) -> None:
        await self._add_record(
            conn,
            OrderRecord(
                at, msisdn, kind, sub.id if sub else None, sub.product_code if sub else None, channel, detail
            ),
        )
