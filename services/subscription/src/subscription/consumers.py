"""Kafka consumers of the subscription service: user-originated SMS (commands), delivery
statuses (which product's content a user got last; per-message billing; the fate of each
order's confirmation SMS), and what complaints ask
of it (dispute holds on a user's records, refunds)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiokafka import ConsumerRecord

from subscription.maintenance_notices import MaintenanceNotice, NoticeKind
from subscription.service.billing import BillingService
from subscription.service.maintenance import MaintenanceNoticeService
from subscription.service.records import RecordsService
from subscription.service.subscriptions import SubscriptionService
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.events import Event
from vas_common.events.complaints import HoldPlaced, HoldReleased, RefundRequested
from vas_common.events.incident_maintenance import (
    TYPE_PREFIX,
    MaintenanceCancelled,
    MaintenanceReminder,
    MaintenanceRescheduled,
    MaintenanceScheduled,
    MaintenanceWindowState,
)
from vas_common.events.sms_sender import (
    MessageState,
    MessageStatus,
    MessageStatusChanged,
    MoMessage,
    MoReceived,
)
from vas_common.events.topics import COMPLAINT_EVENTS, INCIDENT_EVENTS, SMS_MO, SMS_STATUS
from vas_common.kafka import PoisonList, Subscription, decode_batch, event_handler

_DELIVERED = b'"status":"delivered"'
_FAILED = b'"status":"failed"'
_SYSTEM = b'"partner_id":null'  # a provider system message (a confirmation SMS among them)
_FINAL = (MessageStatus.DELIVERED, MessageStatus.FAILED)
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

    async def on_status(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A batch at a time: the sms-sender publishes two statuses per message, hundreds a
        second, and only two kinds matter here: a product's delivered content, and the final
        status of a system message (it may be an order's confirmation SMS: kept on the order, in
        one statement per batch). A record whose handling fails on its own goes to the
        dead-letter topic; the database being away fails the batch, which is then retried
        (what was done of it is idempotent)."""
        # Most statuses are neither: skip them before decoding. The sms-sender writes events as
        # compact JSON (encode_event), so a delivered one always carries that text, and a final
        # status of a system message both its `null` partner and its status; one that merely
        # contains them elsewhere is decoded and skipped.
        wanted = [
            r
            for r in records
            if _DELIVERED in (value := r.value or b"") or (_SYSTEM in value and _FAILED in value)
        ]
        decoded, poison = decode_batch(wanted)
        system: list[tuple[MessageState, datetime]] = []
        system_records: list[ConsumerRecord[bytes, bytes]] = []
        for event, record in decoded:
            if not isinstance(event, MessageStatusChanged):
                continue
            state = event.payload
            if state.partner_id is None and state.status in _FINAL:
                system.append((state, state.done_at or event.occurred_at))
                system_records.append(record)
                continue
            if (
                state.status is not MessageStatus.DELIVERED
                or state.product_code is None
                or state.partner_id is None
            ):
                continue
            try:
                await service.note_content(state, state.done_at or event.occurred_at)
                for handler in on_delivered:
                    await handler(state)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                poison.append((record, exc))
        if system:
            try:
                await service.note_system_messages(system)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                poison += [(record, exc) for record in system_records]
        return poison

    return (
        Subscription("subscription.sms-mo", (SMS_MO,), batch_handler=on_mo),
        Subscription("subscription.sms-status", (SMS_STATUS,), batch_handler=on_status),
    )


def complaint_events(records: RecordsService, billing: BillingService) -> Subscription:
    """Dispute holds placed and released by complaints, and their refund requests; each handled
    idempotently (a hold event states what its holder now does; a refund request is handled once
    by its id). Every other complaint event is not for this service."""

    async def on_complaint_event(event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, HoldPlaced | HoldReleased):
            await records.apply_dispute_hold(event.payload, isinstance(event, HoldPlaced))
        elif isinstance(event, RefundRequested):
            await billing.refund_requested(event.payload)

    return Subscription(
        "subscription.complaint-events", (COMPLAINT_EVENTS,), handler=event_handler(on_complaint_event)
    )


_NOTICE_KINDS: dict[type[Event], NoticeKind] = {
    MaintenanceScheduled: NoticeKind.SCHEDULED,
    MaintenanceRescheduled: NoticeKind.RESCHEDULED,
    MaintenanceCancelled: NoticeKind.CANCELLED,
    MaintenanceReminder: NoticeKind.REMINDER,
}


def maintenance_notice(event: Event) -> MaintenanceNotice | None:
    """The notice to subscribers an incident event asks for, if it is one."""
    kind = _NOTICE_KINDS.get(type(event))
    payload = getattr(event, "payload", None)
    if kind is None or not isinstance(payload, MaintenanceWindowState):
        return None
    return MaintenanceNotice(
        window_id=payload.window_id,
        notice=payload.notice,
        kind=kind,
        product_codes=tuple(code.upper() for code in payload.product_codes),
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        text_zh=payload.text_zh,
        previous_starts_at=payload.previous_starts_at,
        previous_ends_at=payload.previous_ends_at,
    )


def maintenance_events(notices: MaintenanceNoticeService) -> Subscription:
    """Maintenance windows scheduled, rescheduled, cancelled and their reminders (incident.events):
    each told to the active subscribers of its products, once per subscriber and notice. The rest
    of incident.events (incidents, reports) is skipped before decoding."""

    async def on_incident_events(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        decoded, poison = decode_batch([r for r in records if TYPE_PREFIX in (r.value or b"")])
        for event, record in decoded:
            notice = maintenance_notice(event)
            if notice is None or not notice.product_codes:
                continue
            try:
                await notices.send(notice, event.type)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                poison.append((record, exc))
        return poison

    return Subscription(
        "subscription.maintenance-notices", (INCIDENT_EVENTS,), batch_handler=on_incident_events
    )
