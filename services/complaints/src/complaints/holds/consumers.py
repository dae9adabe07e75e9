"""Kafka consumers of disputes: the subscription service's answers to refund requests
(`billing.refunded` naming a request, `billing.refund_failed`) from subscription.events."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from complaints.holds.domain import RefundAnswer, RefundOutcome
from complaints.holds.service import DisputeService
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.events.subscription import Refunded, RefundFailed
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import PoisonList, Subscription, decode_batch

# Nearly all of subscription.events is not an answer to a refund (a charge per delivered message):
# those are skipped before decoding. Events are compact JSON (encode_event), so an answer always
# carries this text; one that merely contains it elsewhere is decoded and skipped.
_REFUND_TYPES = b'"type":"billing.refund'


def answer_of(event: object) -> RefundAnswer | None:
    """The answer an event gives to a complaint's refund request, if it is one."""
    if isinstance(event, Refunded) and event.payload.request_id is not None:
        refund = event.payload
        assert refund.request_id is not None
        return RefundAnswer(
            request_id=refund.request_id,
            outcome=RefundOutcome.REFUNDED,
            at=refund.charged_at,
            amount_fen=-refund.amount_fen,  # a refund is a negative charge
            refund_charge_id=refund.charge_id,
        )
    if isinstance(event, RefundFailed):
        failure = event.payload
        return RefundAnswer(
            request_id=failure.request_id,
            outcome=RefundOutcome.FAILED,
            at=failure.occurred_at,
            amount_fen=failure.amount_fen,
            failure_code=failure.code,
            failure_detail=failure.detail,
            refundable_fen=failure.refundable_fen,
        )
    return None


def subscriptions(disputes: DisputeService) -> Sequence[Subscription]:
    async def on_subscription_events(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A partition's batch; an answer whose handling fails on its own goes to the dead-letter
        topic, the database being away fails the batch (retried; settling is idempotent)."""
        decoded, poison = decode_batch([r for r in records if _REFUND_TYPES in (r.value or b"")])
        for event, record in decoded:
            answer = answer_of(event)
            if answer is None:
                continue
            try:
                await disputes.settle_refund(answer)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                poison.append((record, exc))
        return poison

    return (
        Subscription(
            "complaints.refund-answers", (SUBSCRIPTION_EVENTS,), batch_handler=on_subscription_events
        ),
    )
