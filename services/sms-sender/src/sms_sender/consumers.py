"""Kafka consumers of the sms-sender: partner copies and eligibility from subscription.events and
complaints' dispute holds from complaint.events (every role) and, in dispatcher processes, the
two submit lanes."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from sms_sender.service.dispatch import Dispatcher
from sms_sender.service.eligibility import Eligibility
from sms_sender.service.partners import PartnerDirectory
from sms_sender.service.system_messages import SystemMessages
from vas_common.app import Runtime
from vas_common.events import Event
from vas_common.events.complaints import HoldPlaced, HoldReleased
from vas_common.events.sms_requests import SendRequested
from vas_common.events.subscription import PARTNER_EVENTS
from vas_common.events.topics import (
    COMPLAINT_EVENTS,
    SMS_SEND_REQUESTS,
    SMS_SUBMIT,
    SMS_SUBMIT_PRIORITY,
    SUBSCRIPTION_EVENTS,
)
from vas_common.kafka import PoisonList, Subscription, decode_batch, event_handler
from vas_common.telemetry import kafka_headers_to_carrier


def subscriptions(
    runtime: Runtime,
    dispatcher: Dispatcher | None,
    *,
    default_access_number: str,
    dispatch_fetch_max_wait_ms: int | None = None,
    concat_reference_bits: int = 8,
) -> Sequence[Subscription]:
    directory = PartnerDirectory(runtime.db())
    eligibility = Eligibility(runtime.db())
    system_messages = SystemMessages(
        runtime.db(), default_access_number=default_access_number, concat_reference_bits=concat_reference_bits
    )

    async def on_send_requests(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A batch of system messages is stored in one transaction (MO replies come by the
        hundred a second)."""
        decoded, poison = decode_batch(records)
        await system_messages.send(
            [
                (event.payload, kafka_headers_to_carrier(record.headers))
                for event, record in decoded
                if isinstance(event, SendRequested)
            ]
        )
        return poison

    async def on_subscription_event(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, PARTNER_EVENTS):
            await directory.apply(event.payload)
        else:
            await eligibility.apply(event)

    async def on_complaint_event(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, HoldPlaced | HoldReleased):  # the rest of complaint.events is not ours
            await eligibility.apply(event)

    subs = [
        Subscription(
            group_id="sms-sender.subscription-events",
            topics=(SUBSCRIPTION_EVENTS,),
            handler=event_handler(on_subscription_event),
        ),
        Subscription(
            group_id="sms-sender.complaint-events",
            topics=(COMPLAINT_EVENTS,),
            handler=event_handler(on_complaint_event),
        ),
        Subscription(
            group_id="sms-sender.send-requests",
            topics=(SMS_SEND_REQUESTS,),
            batch_handler=on_send_requests,
        ),
    ]
    if dispatcher is not None:
        # Two groups, two lanes: verification codes and notices never wait behind bulk content.
        fetch_wait = dispatch_fetch_max_wait_ms
        subs += [
            Subscription(
                "sms-sender.dispatch-priority",
                (SMS_SUBMIT_PRIORITY,),
                batch_handler=dispatcher.dispatch,
                fetch_max_wait_ms=fetch_wait,
            ),
            Subscription(
                "sms-sender.dispatch",
                (SMS_SUBMIT,),
                batch_handler=dispatcher.dispatch,
                fetch_max_wait_ms=fetch_wait,
            ),
        ]
    return subs
