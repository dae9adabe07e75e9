"""Dispute use cases: a complaint's hold on the user's records and the refund asked at its
resolution follow each change of the complaint inside the complaint's own transaction
(`after_change`, a hook of ComplaintService), so a hold is placed or released, and a refund
asked, exactly when the change commits; the subscription service's answer to a refund lands on
the complaint's timeline once (`settle_refund`)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import asyncpg

from complaints.complaint.domain import Complaint, ComplaintEvent
from complaints.complaint.repository import ComplaintRepository
from complaints.holds import domain
from complaints.holds.domain import HoldStep, RefundAnswer, RefundRequest
from complaints.holds.repository import DisputeRepository
from vas_common.clock import Clock as TimeSource
from vas_common.db import DbConnection
from vas_common.errors import ValidationFailed
from vas_common.events.complaints import HoldChange, HoldPlaced, HoldReleased, RefundRequested
from vas_common.events.complaints import RefundRequest as RefundRequestPayload
from vas_common.events.topics import COMPLAINT_EVENTS
from vas_common.outbox import OutboxRepository

logger = logging.getLogger(__name__)

# Who the timeline names for an answer that came from the subscription service.
SUBSCRIPTION_ACTOR = "subscription"


class RefundNotAllowed(ValidationFailed):
    code = "refund_not_allowed"
    title = "Only resolving a billing complaint may ask for a refund"


class DisputeService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: TimeSource,
        disputes: DisputeRepository | None = None,
        complaints: ComplaintRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._disputes = disputes or DisputeRepository()
        self._complaints = complaints or ComplaintRepository()
        self._outbox = outbox or OutboxRepository()

    async def after_change(
        self, conn: DbConnection, complaint: Complaint, event: ComplaintEvent, now: datetime
    ) -> None:
        """Inside the transaction that changed the complaint (it is locked): its hold placed or
        released as its status now wants, and the refund its resolution asks for. A refund that
        may not be asked raises, and the whole change rolls back."""
        asked = domain.refund_asked(event)
        if asked is not None:
            refusal = domain.refund_refusal(complaint, event)
            if refusal is not None:
                raise RefundNotAllowed(refusal, extra={"category": complaint.category.value})
            request = RefundRequest(
                request_id=domain.refund_request_id(event),
                complaint_id=complaint.id,
                event_id=event.id,
                msisdn=complaint.msisdn,
                charge_id=asked.charge_id,
                amount_fen=asked.amount_fen,
                reason=asked.reason,
                requested_at=now,
            )
            await self._disputes.add_refund(conn, request)
            await self._outbox.enqueue(
                conn,
                COMPLAINT_EVENTS,
                RefundRequested(
                    payload=RefundRequestPayload(
                        request_id=request.request_id,
                        complaint_id=complaint.id,
                        msisdn=complaint.msisdn,
                        charge_id=request.charge_id,
                        amount_fen=request.amount_fen,
                        reason=request.reason,
                        occurred_at=now,
                    )
                ),
            )
        await self._follow_hold(conn, complaint, now)

    async def _follow_hold(self, conn: DbConnection, complaint: Complaint, now: datetime) -> None:
        current = await self._disputes.hold_of(conn, complaint.id)
        step = domain.hold_step(complaint, held=current is not None and current.held)
        if step is None:
            return
        holder = domain.holder(complaint)
        change = HoldChange(
            msisdn=complaint.msisdn,
            holder=holder,
            reason=domain.hold_reason(complaint),
            occurred_at=now,
        )
        if step is HoldStep.PLACE:
            if await self._disputes.place(conn, complaint.id, complaint.msisdn, holder, now):
                await self._outbox.enqueue(conn, COMPLAINT_EVENTS, HoldPlaced(payload=change))
        elif await self._disputes.release(conn, complaint.id, now):
            await self._outbox.enqueue(conn, COMPLAINT_EVENTS, HoldReleased(payload=change))

    async def settle_refund(self, answer: RefundAnswer) -> bool:
        """The subscription service refunded, or refused, a request: the outcome is stored and
        put on the complaint's timeline (an event that changes neither its status nor its clocks).
        Once: the same answer again, or an answer to a request not made here, changes nothing."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            request = await self._disputes.refund(conn, answer.request_id)
            if request is None:
                logger.warning("an answer to refund request %s, which was not made here", answer.request_id)
                return False
            # The complaint first, as every use case on it locks it: the settling is then serial
            # with a resolution or a reopening of the same complaint.
            await self._complaints.get(conn, request.complaint_id, for_update=True)
            settled = await self._disputes.settle_refund(
                conn, request.request_id, answer.outcome, answer.refund_charge_id, answer.failure_code, now
            )
            if not settled:
                return False
            await self._complaints.add_event(
                conn,
                ComplaintEvent(
                    id=uuid.uuid4(),
                    complaint_id=request.complaint_id,
                    kind=domain.answer_event_kind(answer),
                    occurred_at=max(answer.at, request.requested_at),
                    recorded_at=now,
                    actor=SUBSCRIPTION_ACTOR,
                    note=domain.answer_note(answer),
                    detail=domain.answer_detail(request, answer),
                ),
            )
        return True
