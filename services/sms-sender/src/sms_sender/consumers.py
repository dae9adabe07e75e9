"""Kafka consumers of the sms-sender: partner copies from subscription.events (every role) and,
in dispatcher processes, the two submit lanes."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from sms_sender.dispatch import Dispatcher
from sms_sender.service import Eligibility, PartnerDirectory, SendService
from vas_common.app import Runtime
from vas_common.events import Event
from vas_common.events.sms_requests import SendRequested
from vas_common.events.subscription import PARTNER_EVENTS
from vas_common.events.topics import SMS_SEND_REQUESTS, SMS_SUBMIT, SMS_SUBMIT_PRIORITY, SUBSCRIPTION_EVENTS
from vas_common.kafka import Subscription, event_handler


def subscriptions(
    runtime: Runtime, send_service: SendService, dispatcher: Dispatcher | None
) -> Sequence[Subscription]:
    directory = PartnerDirectory(runtime.db())
    eligibility = Eligibility(runtime.db())

    async def on_send_request(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, SendRequested):
            await send_service.send_system(event.payload)

    async def on_subscription_event(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, PARTNER_EVENTS):
            await directory.apply(event.payload)
        else:
            await eligibility.apply(event)

    subs = [
        Subscription(
            group_id="sms-sender.subscription-events",
            topics=(SUBSCRIPTION_EVENTS,),
            handler=event_handler(on_subscription_event),
        ),
        Subscription(
            group_id="sms-sender.send-requests",
            topics=(SMS_SEND_REQUESTS,),
            handler=event_handler(on_send_request),
        ),
    ]
    if dispatcher is not None:
        # Two groups, two lanes: verification codes and notices never wait behind bulk content.
        subs += [
            Subscription(
                "sms-sender.dispatch-priority", (SMS_SUBMIT_PRIORITY,), batch_handler=dispatcher.dispatch
            ),
            Subscription("sms-sender.dispatch", (SMS_SUBMIT,), batch_handler=dispatcher.dispatch),
        ]
    return subs
