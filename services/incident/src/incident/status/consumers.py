"""Kafka consumer of the status page: the catalogue's announcements on subscription.events
(a product on sale with its terms, its discontinuation announced, ended). A group of its own;
each write is idempotent, so a redelivery changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.status.service import StatusService
from vas_common.events import Event
from vas_common.events.subscription import (
    ProductDiscontinuationScheduled,
    ProductDiscontinued,
    ProductPublished,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import PoisonList, Subscription, decode_batch

GROUP_ID = "incident.catalogue"


async def apply(status: StatusService, event: Event) -> None:
    if isinstance(event, ProductPublished):
        await status.note_listing(event.payload)
    elif isinstance(event, ProductDiscontinuationScheduled):
        notice = event.payload
        await status.note_discontinuation(notice.product_id, notice.effective_at, notice.reason)
    elif isinstance(event, ProductDiscontinued):
        await status.note_discontinued(event.payload.product_id, event.payload.effective_at)


def subscriptions(status: StatusService) -> Sequence[Subscription]:
    async def on_subscription_events(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        # Most of the topic is subscribers and charges: decoded and passed over in a batch.
        decoded, poison = decode_batch(records)
        for event, _ in decoded:
            await apply(status, event)
        return poison

    return (Subscription(GROUP_ID, (SUBSCRIPTION_EVENTS,), batch_handler=on_subscription_events),)
