"""Kafka consumer of the report: the subscriber changes of subscription.events, for the complaint
rate per product. A group of its own; idempotent by each change's natural key."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from complaints.report.domain import SubscriberStatus, SubscriptionChange
from complaints.report.service import ReportService
from vas_common.events import Event
from vas_common.events.subscription import (
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionEnded,
    SubscriptionExpired,
    SubscriptionState,
    SubscriptionSuspended,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import PoisonList, Subscription, decode_batch

GROUP_ID = "complaints.subscription-events"

# The events that start or end a subscriber, and the status each leaves.
_STATUS: dict[type[Event], SubscriberStatus] = {
    SubscriptionConfirmed: SubscriberStatus.ACTIVE,
    SubscriptionCancelled: SubscriberStatus.CANCELLED,
    SubscriptionExpired: SubscriberStatus.EXPIRED,
    SubscriptionSuspended: SubscriberStatus.SUSPENDED,
    SubscriptionEnded: SubscriberStatus.ENDED,
}


def subscriber_change(event: Event) -> SubscriptionChange | None:
    """The change an event tells, or None for the events that do not start or end a subscriber
    (partners, requests not yet confirmed, charges ...)."""
    status = _STATUS.get(type(event))
    if status is None:
        return None
    state = event.payload
    assert isinstance(state, SubscriptionState)
    return SubscriptionChange(
        subscription_id=state.subscription_id,
        occurred_at=state.occurred_at,
        status=status,
        product_code=state.product_code.upper(),
        partner_id=state.partner_id,
        msisdn=state.msisdn,
        event_id=event.event_id,
    )


def subscriptions(reports: ReportService) -> Sequence[Subscription]:
    async def on_subscription_events(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A partition's batch in one statement (a discontinued product ends thousands of
        subscriptions at once); records that are not events go to the dead-letter topic."""
        decoded, poison = decode_batch(records)
        changes = [change for event, _ in decoded if (change := subscriber_change(event)) is not None]
        await reports.note_subscription_changes(changes)
        return poison

    return (Subscription(GROUP_ID, (SUBSCRIPTION_EVENTS,), batch_handler=on_subscription_events),)
