"""Complaint use cases: intake by phone, web, SMS and operator forwarding; the events staff (and
the user) add to a complaint; what staff and the user may read. Each opens its transaction and
recomputes the complaint's clocks in it, so a clock never lags its history."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from complaints.complaint import domain
from complaints.complaint.domain import Complaint, ComplaintEvent, ComplaintStatus
from complaints.complaint.repository import ComplaintRepository
from complaints.sla.domain import Category, Channel, Clock, EventKind
from complaints.sla.service import SlaService
from vas_common import mo_routing
from vas_common.clock import Clock as TimeSource
from vas_common.db import DbConnection
from vas_common.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from vas_common.events.complaints import ComplaintCreated, ComplaintState, ComplaintUpdated
from vas_common.events.sms_requests import SendRequested, SystemMessage
from vas_common.events.sms_sender import MoMessage
from vas_common.events.topics import COMPLAINT_EVENTS, SMS_SEND_REQUESTS
from vas_common.outbox import OutboxRepository

# Acknowledgement SMS ids derive from the complaint, so a retried intake never texts twice.
_SMS_NAMESPACE = uuid.UUID("0b5f2c44-7f55-4d0e-a3c1-61c8b5d3e2a7")


class ComplaintNotFound(NotFound):
    code = "complaint_not_found"
    title = "No such complaint"


class EventNotAllowed(Conflict):
    code = "complaint_state_conflict"
    title = "This cannot happen to the complaint in its current state"


class OccurredInFuture(ValidationFailed):
    code = "occurred_in_future"
    title = "An event cannot be logged for a time still to come"


class OccurredBeforeComplaint(ValidationFailed):
    code = "occurred_before_complaint"
    title = "An event cannot have happened before the complaint was made"


class OperatorDeadlineMissing(ValidationFailed):
    code = "operator_deadline_missing"
    title = "A complaint forwarded by the operator carries the operator's deadline"


class TooManyComplaints(TooManyRequests):
    code = "too_many_complaints"
    title = "Too many complaints from this number or address; try again later"


@dataclass(frozen=True)
class Intake:
    channel: Channel
    category: Category
    msisdn: str
    summary: str
    occurred_at: datetime | None = None  # a call logged after it ended keeps its time
    partner_id: UUID | None = None
    product_code: str | None = None
    subscription_id: UUID | None = None
    message_id: UUID | None = None
    charge_id: UUID | None = None
    solved_on_call: bool = False
    operator_reference: str | None = None
    operator_deadline: datetime | None = None


# Called inside a use case's transaction after each change of a complaint (its intake, each event
# recorded), with the complaint as it now is, locked: another sub-domain acts on the change in the
# same transaction (complaints.holds: dispute holds and refunds). Raising rolls the change back.
ChangeHook = Callable[[DbConnection, Complaint, ComplaintEvent, datetime], Awaitable[None]]


@dataclass(frozen=True)
class IntakeLimits:
    per_number_per_hour: int = 3
    per_address_per_hour: int = 20


@dataclass(frozen=True)
class SmsReplies:
    """How users reach the complaints service by SMS (vas_common.mo_routing)."""

    system_access_number: str = "10690000"
    ext_code: str = mo_routing.COMPLAINTS_EXT_CODE
    keywords: tuple[str, ...] = mo_routing.COMPLAINT_KEYWORDS


@dataclass(frozen=True)
class ComplaintView:
    complaint: Complaint
    history: list[ComplaintEvent]
    clocks: list[Clock]
    at: datetime  # when it was read: the clocks' states are as of then


class ComplaintService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: TimeSource,
        sla: SlaService,
        provider_name: str,
        limits: IntakeLimits | None = None,
        replies: SmsReplies | None = None,
        complaints: ComplaintRepository | None = None,
        outbox: OutboxRepository | None = None,
        hooks: Sequence[ChangeHook] = (),
    ) -> None:
        self._hooks = tuple(hooks)
        self._pool = pool
        self._clock = clock
        self._sla = sla
        self._provider = provider_name
        self._limits = limits or IntakeLimits()
        self._replies = replies or SmsReplies()
        self._complaints = complaints or ComplaintRepository()
        self._outbox = outbox or OutboxRepository()

    async def open(
        self,
        intake: Intake,
        actor: str,
        *,
        from_public_form: bool = False,
        source_address: str | None = None,
        complaint_id: UUID | None = None,
    ) -> Complaint:
        """A new complaint, its `created` event (at the time it was made), the acknowledgement
        SMS with the tracking code for written channels, and its clocks. A call solved on the
        call also records the solution offered then."""
        now = self._clock.now()
        occurred = intake.occurred_at or now
        if occurred > now + domain.CLOCK_SKEW:
            raise OccurredInFuture(f"occurred_at {occurred.isoformat()} is later than now")
        if intake.channel is Channel.OPERATOR and intake.operator_deadline is None:
            raise OperatorDeadlineMissing("give operator_deadline for a forwarded complaint")
        complaint = Complaint(
            id=complaint_id or uuid.uuid4(),
            tracking_code=domain.new_tracking_code(),
            channel=intake.channel,
            category=intake.category,
            msisdn=intake.msisdn,
            summary=intake.summary,
            status=ComplaintStatus.OPEN,
            created_at=occurred,
            updated_at=now,
            partner_id=intake.partner_id,
            product_code=intake.product_code,
            subscription_id=intake.subscription_id,
            message_id=intake.message_id,
            charge_id=intake.charge_id,
            solved_on_call=intake.channel is Channel.PHONE and intake.solved_on_call,
            operator_reference=intake.operator_reference,
            operator_deadline=intake.operator_deadline if intake.channel is Channel.OPERATOR else None,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            if from_public_form:  # staff logging complaints are not limited
                await self._check_web_limits(conn, intake.msisdn, source_address, now)
            if not await self._complaints.insert(conn, complaint, source_address):
                existing = await self._complaints.get(conn, complaint.id)
                assert existing is not None
                return existing  # the same intake again (a redelivered SMS): nothing more
            history = [self._event(complaint, EventKind.CREATED, occurred, now, actor)]
            if complaint.solved_on_call:
                history.append(
                    self._event(
                        complaint, EventKind.SOLUTION_OFFERED, occurred, now, actor, "solved on the call"
                    )
                )
            for event in history:
                await self._complaints.add_event(conn, event)
            if intake.channel in (Channel.WEB, Channel.SMS):
                await self._sms(
                    conn,
                    complaint,
                    domain.acknowledgement_text(self._provider, complaint.tracking_code),
                    "ack",
                    now,
                )
            await self._publish(conn, complaint, EventKind.CREATED, occurred, created=True)
            for hook in self._hooks:
                await hook(conn, complaint, history[0], now)
            await self._sla.recompute(conn, complaint, history, now)
        return complaint

    async def _check_web_limits(
        self, conn: DbConnection, msisdn: str, source_address: str | None, now: datetime
    ) -> None:
        since = now - timedelta(hours=1)
        if (
            await self._complaints.recent_count(conn, since, msisdn=msisdn)
            >= self._limits.per_number_per_hour
        ):
            raise TooManyComplaints(
                "this number has made several complaints in the last hour", retry_after_s=3600
            )
        if source_address is not None and (
            await self._complaints.recent_count(conn, since, source_address=source_address)
            >= self._limits.per_address_per_hour
        ):
            raise TooManyComplaints(
                "too many complaints from this address in the last hour", retry_after_s=3600
            )

    async def record(
        self,
        complaint_id: UUID,
        kind: EventKind,
        actor: str,
        *,
        occurred_at: datetime | None = None,
        note: str = "",
        detail: dict[str, Any] | None = None,
        event_id: UUID | None = None,
    ) -> ComplaintView:
        """An event on the complaint (a reply, a call logged late, a pause …), allowed by its
        state; its clocks are recomputed with the event where it happened. An event whose id
        was recorded before (a redelivered SMS) changes nothing. A resolution asks the user by
        SMS for a score."""
        now = self._clock.now()
        occurred = occurred_at or now
        if occurred > now + domain.CLOCK_SKEW:
            raise OccurredInFuture(f"occurred_at {occurred.isoformat()} is later than now")
        async with self._pool.acquire() as conn, conn.transaction():
            complaint = await self._complaints.get(conn, complaint_id, for_update=True)
            if complaint is None:
                raise ComplaintNotFound(f"complaint {complaint_id} does not exist")
            if occurred < complaint.created_at:
                raise OccurredBeforeComplaint(
                    f"the complaint was made at {complaint.created_at.isoformat()}",
                    extra={"created_at": complaint.created_at.isoformat()},
                )
            if event_id is not None and await self._complaints.event_exists(conn, event_id):
                history = await self._complaints.history(conn, complaint_id)
                return ComplaintView(
                    complaint, history, await self._sla.clocks(conn, complaint, history), now
                )
            if not domain.allowed_in(kind, complaint.status):
                raise EventNotAllowed(
                    f"a complaint that is {complaint.status} cannot be {kind}",
                    extra={"complaint_status": complaint.status.value},
                )
            event = self._event(complaint, kind, occurred, now, actor, note, detail, event_id)
            await self._complaints.add_event(conn, event)
            if kind is EventKind.RESOLVED:
                await self._sms(
                    conn,
                    complaint,
                    domain.survey_text(self._provider, complaint.tracking_code),
                    f"survey:{event.id}",
                    now,
                    ext_code=self._replies.ext_code,
                )
            updated = domain.after_event(complaint, event)
            await self._complaints.update_state(conn, updated)
            await self._publish(conn, updated, kind, occurred)
            for hook in self._hooks:
                await hook(conn, updated, event, now)
            history = await self._complaints.history(conn, complaint_id)
            clocks = await self._sla.recompute(conn, updated, history, now)
        return ComplaintView(updated, history, clocks, now)

    async def handle_mo(self, mo: MoMessage) -> None:
        """A user's SMS: a complaint that starts with a keyword opens one; a reply to the
        complaints number is a satisfaction score (1–2 reopens the complaint) or a word from the
        user on their latest complaint. Ids derive from the MO, so a redelivery does nothing."""
        if mo_routing.to_complaints(
            mo.destination, self._replies.system_access_number, self._replies.ext_code
        ):
            await self._reply_from_user(mo)
            return
        text = mo_routing.complaint_text(mo.text, self._replies.keywords)
        if text is None:
            return
        intake = Intake(
            channel=Channel.SMS,
            category=Category.OTHER,
            msisdn=mo.msisdn,
            summary=text,
            occurred_at=min(mo.received_at, self._clock.now()),
        )
        await self.open(intake, "user", complaint_id=uuid.uuid5(_SMS_NAMESPACE, f"mo:{mo.mo_id}"))

    async def _reply_from_user(self, mo: MoMessage) -> None:
        score = domain.satisfaction_score(mo.text)
        async with self._pool.acquire() as conn:
            statuses = (
                [ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED]
                if score is not None
                else [ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER, ComplaintStatus.RESOLVED]
            )
            complaint = await self._complaints.latest_of_user(conn, mo.msisdn, statuses)
        if complaint is None:
            return
        at = min(mo.received_at, self._clock.now())
        if score is None:
            await self.record(
                complaint.id, EventKind.USER_REPLIED, "user", occurred_at=at, note=mo.text,
                event_id=uuid.uuid5(_SMS_NAMESPACE, f"mo:{mo.mo_id}:reply"),
            )  # fmt: skip
            return
        await self.record(
            complaint.id, EventKind.SATISFACTION_RECORDED, "user", occurred_at=at, detail={"score": score},
            event_id=uuid.uuid5(_SMS_NAMESPACE, f"mo:{mo.mo_id}:score"),
        )  # fmt: skip
        if score <= domain.REOPEN_AT_OR_BELOW:
            await self.record(
                complaint.id, EventKind.REOPENED, "user", occurred_at=at, note=f"满意度{score}分，重新处理",
                event_id=uuid.uuid5(_SMS_NAMESPACE, f"mo:{mo.mo_id}:reopen"),
            )  # fmt: skip

    async def escalate_unrated(self, wait: timedelta, batch: int = 200) -> int:
        """Resolved complaints the user has not scored within `wait`: escalated to a supervisor
        (once per resolution, whichever replica runs it)."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            due = await self._complaints.unrated(conn, now - wait, batch)
        for complaint_id, resolution in due:
            await self.record(
                complaint_id,
                EventKind.ESCALATED,
                "system",
                note="用户未回复满意度，转主管回访",
                event_id=uuid.uuid5(_SMS_NAMESPACE, f"escalation:{resolution}"),
            )
        return len(due)

    async def view(self, complaint_id: UUID) -> ComplaintView:
        async with self._pool.acquire() as conn:
            complaint = await self._complaints.get(conn, complaint_id)
            if complaint is None:
                raise ComplaintNotFound(f"complaint {complaint_id} does not exist")
            history = await self._complaints.history(conn, complaint_id)
            clocks = await self._sla.clocks(conn, complaint, history)
        return ComplaintView(complaint, history, clocks, self._clock.now())

    async def track(self, tracking_code: str, last_four: str) -> ComplaintView:
        """The user's view by tracking code and the number's last four digits: the same answer
        for a wrong code and a wrong number, so neither can be probed."""
        code = domain.normalized_tracking_code(tracking_code)
        async with self._pool.acquire() as conn:
            complaint = await self._complaints.by_tracking_code(conn, code)
            if complaint is None or not domain.last_four_match(complaint.msisdn, last_four):
                raise ComplaintNotFound("no complaint with this tracking code and number")
            history = await self._complaints.history(conn, complaint.id)
        return ComplaintView(complaint, history, [], self._clock.now())

    async def queue(self, limit: int = 200) -> list[tuple[Complaint, datetime | None]]:
        async with self._pool.acquire() as conn:
            return await self._complaints.queue(conn, limit)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _event(
        complaint: Complaint,
        kind: EventKind,
        occurred: datetime,
        now: datetime,
        actor: str,
        note: str = "",
        detail: dict[str, Any] | None = None,
        event_id: UUID | None = None,
    ) -> ComplaintEvent:
        return ComplaintEvent(
            event_id or uuid.uuid4(), complaint.id, kind, occurred, now, actor, note, detail
        )

    async def _publish(
        self, conn: DbConnection, c: Complaint, change: EventKind, at: datetime, *, created: bool = False
    ) -> None:
        state = ComplaintState(
            complaint_id=c.id,
            change=change.value,
            channel=c.channel.value,
            category=c.category.value,
            status=c.status.value,
            msisdn=c.msisdn,
            partner_id=c.partner_id,
            product_code=c.product_code,
            satisfaction=c.satisfaction,
            occurred_at=at,
        )
        event = ComplaintCreated(payload=state) if created else ComplaintUpdated(payload=state)
        await self._outbox.enqueue(conn, COMPLAINT_EVENTS, event)

    async def _sms(
        self,
        conn: DbConnection,
        c: Complaint,
        text: str,
        purpose: str,
        now: datetime,
        ext_code: str | None = None,
    ) -> None:
        request = SendRequested(
            producer="complaints",
            payload=SystemMessage(
                request_id=uuid.uuid5(_SMS_NAMESPACE, f"{c.id}:{purpose}"),
                recipient=c.msisdn,
                text=text,
                ext_code=ext_code,
                requested_at=now,
                reason=f"complaints.{purpose}",
            ),
        )
        await self._outbox.enqueue(conn, SMS_SEND_REQUESTS, request)
