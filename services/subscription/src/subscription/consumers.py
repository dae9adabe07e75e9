"""Kafka consumers of the subscription service: user-originated SMS (commands) and delivery
statuses (which product's content a user got last; per-message billing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord

from subscription.service.subscriptions import SubscriptionService
from vas_common.events import Event
from vas_common.events.sms_sender import (
    MessageState,
    MessageStatus,
    MessageStatusChanged,
    MoMessage,
    MoReceived,
)
from vas_common.events.topics import SMS_MO, SMS_STATUS
from vas_common.kafka import PoisonList, Subscription, decode_batch, event_handler

DeliveredHandler = Callable[[MessageState], Awaitable[object]]  # what it returns is not used


def subscriptions(
    service: SubscriptionService, on_delivered: Sequence[DeliveredHandler] = ()
) -> Sequence[Subscription]:
    async def on_mo(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A partition's batch of MO in one transaction; an MO that fails on its own, or
        cannot be read, goes to the dead-letter topic."""
        decoded, poison = decode_batch(records)
        mos: list[tuple[MoMessage, ConsumerRecord[bytes, bytes]]] = [
            (event.payload, record) for event, record in decoded if isinstance(event, MoReceived)
        ]
        failed = await service.handle_mo_batch([mo for mo, _ in mos])
        by_id = {mo.mo_id: record for mo, record in mos}
        return poison + [(by_id[mo.mo_id], error) for mo, error in failed]

    async def on_status(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if not isinstance(event, MessageStatusChanged):
            return
        state = event.payload
        if state.status is not MessageStatus.DELIVERED or state.product_code is None:
            return
        await service.note_content(state.recipient, state.product_code, state.done_at or event.occurred_at)
        for handler in on_delivered:
            await handler(state)

    return (
        Subscription("subscription.sms-mo", (SMS_MO,), batch_handler=on_mo),
        Subscription("subscription.sms-status", (SMS_STATUS,), handler=event_handler(on_status)),
    )
