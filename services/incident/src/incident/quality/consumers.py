"""Kafka consumers of the quality roll-ups: the sms-sender's message statuses (sms.status: send
delay, MT per second, product messages after an unsubscription), the users' messages (sms.mo: MO
per second, unsubscription requests), the complaint clock runs breached or stopped and the satisfaction replies
(complaint.events), and the orders, cancellations and charges (subscription.events). Groups of
their own; a batch counts once whatever the redeliveries (the watermark in
`QualityService.record`)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.quality.domain import ChargeSeen, NoticeGiven, OrderChange, PartnerName, SatisfactionReply
from incident.quality.service import Consumed, QualityService, Value
from vas_common.events.complaints import ClockStopped, ComplaintUpdated, SlaBreached
from vas_common.events.envelope import Event
from vas_common.events.sms_sender import ContentRejected, MessageStatusChanged, MoReceived
from vas_common.events.subscription import (
    Charged,
    PartnerState,
    ProductDiscontinuationScheduled,
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionEnded,
    SubscriptionExpired,
    SubscriptionRequested,
    SuspensionScheduled,
)
from vas_common.events.topics import COMPLAINT_EVENTS, SMS_MO, SMS_STATUS, SUBSCRIPTION_EVENTS
from vas_common.kafka import BatchHandler, PoisonList, Subscription, decode_batch

STATUS_GROUP = "incident.quality-status"
MO_GROUP = "incident.quality-mo"
COMPLAINTS_GROUP = "incident.quality-complaints"
SUBSCRIPTIONS_GROUP = "incident.quality-subscriptions"

_ORDER_EVENTS = (
    SubscriptionRequested,
    SubscriptionConfirmed,
    SubscriptionExpired,
    SubscriptionCancelled,
    SubscriptionEnded,
)


def value_of(event: Event) -> Value:
    """What an event contributes to the roll-ups (None: nothing)."""
    if isinstance(event, MessageStatusChanged):
        return event.payload
    if isinstance(event, MoReceived):
        return event.payload
    if isinstance(event, ContentRejected):
        return event.payload
    if isinstance(event, SlaBreached | ClockStopped):
        return event.payload
    if isinstance(event, ComplaintUpdated):
        c = event.payload
        if c.change == "satisfaction_recorded" and c.satisfaction is not None:
            return SatisfactionReply(c.satisfaction, c.occurred_at)
        return None
    if isinstance(event, _ORDER_EVENTS):
        s = event.payload
        kind = event.type.removeprefix("subscription.")  # requested | confirmed | expired | ...
        answered = event.payload.answered if isinstance(event, SubscriptionExpired) else None
        reason = event.payload.reason if isinstance(event, SubscriptionExpired) else None
        return OrderChange(kind, s.subscription_id, s.msisdn, s.product_code, s.occurred_at, answered, reason)
    if isinstance(event.payload, PartnerState):  # partner.created, .profile_changed, ...
        p = event.payload
        return PartnerName(p.partner_id, p.name, p.revision)
    if isinstance(event, ProductDiscontinuationScheduled):
        d = event.payload
        noticed = d.noticed_at or event.occurred_at
        return NoticeGiven("discontinuation", str(d.product_id), noticed, d.effective_at)
    if isinstance(event, SuspensionScheduled):
        u = event.payload
        # A number with nothing to suspend was told nothing: no notice was due.
        return NoticeGiven("suspension", u.msisdn, u.noticed_at, u.effective_at) if u.notified else None
    if isinstance(event, Charged):
        ch = event.payload
        return ChargeSeen(
            ch.charge_id,
            ch.subscription_id,
            ch.msisdn,
            ch.product_code,
            ch.period,
            ch.message_id,
            ch.charged_at,
        )
    return None


def subscriptions(quality: QualityService) -> Sequence[Subscription]:
    def handler(group_id: str) -> BatchHandler:
        async def on_batch(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
            decoded, poison = decode_batch(records)
            values = {record.offset: value_of(event) for event, record in decoded}
            # Every record (poison too) moves the watermark: each is counted at most once.
            batch = [Consumed(r.offset, values.get(r.offset)) for r in records]
            first = records[0]
            await quality.record(group_id, first.topic, first.partition, batch)
            return poison

        return on_batch

    return (
        Subscription(STATUS_GROUP, (SMS_STATUS,), batch_handler=handler(STATUS_GROUP)),
        Subscription(MO_GROUP, (SMS_MO,), batch_handler=handler(MO_GROUP)),
        Subscription(COMPLAINTS_GROUP, (COMPLAINT_EVENTS,), batch_handler=handler(COMPLAINTS_GROUP)),
        Subscription(SUBSCRIPTIONS_GROUP, (SUBSCRIPTION_EVENTS,), batch_handler=handler(SUBSCRIPTIONS_GROUP)),
    )
