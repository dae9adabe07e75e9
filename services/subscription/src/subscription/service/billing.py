"""Billing: the monthly fee run, per-message fees from delivery statuses, refunds (by the operator,
or asked for by a complaint) and the fee query. Each new charge is written with its raw record and
its event in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from uuid import UUID

import asyncpg

from subscription import domain
from subscription.domain import Charge, MonthlySubscription
from subscription.repository.billing import BillingRepository, UserProduct
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.messaging import Messaging
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import NotFound, ValidationFailed
from vas_common.events.complaints import RefundRequest
from vas_common.events.sms_sender import MessageState
from vas_common.events.subscription import Charged, RefundCharge, Refunded, RefundFailed, RefundFailure

MONTHLY_REASON = "monthly_fee"
MESSAGE_REASON = "message_fee"


class PeriodInFuture(ValidationFailed):
    code = "period_in_future"
    title = "A month can be billed only once it has begun"


class ChargeNotFound(NotFound):
    code = "charge_not_found"
    title = "No such charge"


class ChargeNotRefundable(ValidationFailed):
    code = "charge_not_refundable"
    title = "Only a charge of money taken can be refunded, not a refund"


class RefundExceedsCharge(ValidationFailed):
    code = "refund_exceeds_charge"
    title = "The refunds of a charge may not exceed it"


class ChargeOfAnotherUser(ValidationFailed):
    code = "charge_of_another_user"
    title = "A complaint may refund only a charge of its own user"


class RefundAmountInvalid(ValidationFailed):
    code = "refund_amount_invalid"
    title = "A refund returns a positive amount"


# Why a complaint's refund request can be refused; each is reported back as billing.refund_failed.
REFUSALS = (
    ChargeNotFound,
    ChargeOfAnotherUser,
    ChargeNotRefundable,
    RefundExceedsCharge,
    RefundAmountInvalid,
)
Refusal = (
    ChargeNotFound | ChargeOfAnotherUser | ChargeNotRefundable | RefundExceedsCharge | RefundAmountInvalid
)


@dataclass(frozen=True)
class BillingRun:
    period: str
    charged: int  # new monthly fees charged by this run (one per user, product and month)
    amount_fen: int  # their sum
    already_charged: int  # users' fees due for the period (per product) that had been charged before


@dataclass(frozen=True)
class UserCharges:
    msisdn: str
    month: str
    charges: list[Charge]

    @property
    def total_fen(self) -> int:
        return sum(c.amount_fen for c in self.charges)


class BillingService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        billing: BillingRepository | None = None,
        subscriptions: SubscriptionRepository | None = None,
        messaging: Messaging | None = None,
        batch_size: int = 500,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._billing = billing or BillingRepository()
        self._subs = subscriptions or SubscriptionRepository()
        self._messaging = messaging or Messaging()
        self._batch_size = batch_size

    async def run_monthly(self, period: str) -> BillingRun:
        """Charge every user what each monthly product owes for `period`: one fee per user, product
        and month, however many subscriptions the user had in it (domain.monthly_fee). Safe to
        re-run and to run from several replicas at once: charges_monthly_user_once lets one fee
        per user, product and period in, whoever comes second finds it there."""
        now = self._clock.now()
        if period > domain.period_of(now):
            raise PeriodInFuture(f"{period} has not begun (it is {domain.period_of(now)} in Asia/Shanghai)")
        start, end = domain.period_bounds(period)
        charged = amount = already = 0
        after: UserProduct | None = None
        while True:
            # One transaction per page: a charge, its record and its event commit together.
            async with self._pool.acquire() as conn, conn.transaction():
                page = await self._billing.monthly_candidates(conn, start, end, after, self._batch_size)
                pairs = 0
                for _, group in groupby(page, key=lambda c: (c.msisdn, c.product_id)):
                    pairs += 1
                    candidates = list(group)
                    pair = candidates[0]  # user and product are the same in all
                    fee = domain.monthly_fee(
                        [
                            MonthlySubscription(c.subscription_id, c.confirmed_at, c.ended_at)
                            for c in candidates
                        ],
                        pair.price_fen,
                        pair.first_month,
                        pair.last_month,
                        period,
                    )
                    if fee is None:
                        continue
                    charge = Charge(
                        id=uuid.uuid4(),
                        msisdn=pair.msisdn,
                        subscription_id=fee.subscription_id,
                        product_id=pair.product_id,
                        product_code=pair.product_code,
                        amount_fen=fee.amount_fen,
                        reason=MONTHLY_REASON,
                        charged_at=now,
                        period=period,
                    )
                    if await self._charge(conn, charge):
                        charged += 1
                        amount += fee.amount_fen
                    else:
                        already += 1
            if pairs < self._batch_size:
                return BillingRun(period, charged, amount, already)
            after = UserProduct(page[-1].msisdn, page[-1].product_id)

    async def charge_delivered(self, state: MessageState) -> bool:
        """A delivered message of a per-message product costs its price once (charges_message_once:
        a status event delivered twice charges nothing more), and only when the product's owner
        sent it. True if a charge was made."""
        if state.product_code is None or state.partner_id is None:
            return False
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            sub = await self._subs.active_with_code(
                conn, state.recipient, state.product_code, state.partner_id
            )
            if sub is None:
                return False
            fee = domain.message_charge(sub.billing_type, sub.price_fen)
            if fee is None:
                return False
            charge = Charge(
                id=uuid.uuid4(),
                msisdn=sub.msisdn,
                subscription_id=sub.id,
                product_id=sub.product_id,
                product_code=sub.product_code,
                amount_fen=fee,
                reason=MESSAGE_REASON,
                # the fee belongs to the month the message was delivered in
                charged_at=state.done_at or now,
                message_id=state.message_id,
            )
            return await self._charge(conn, charge)

    async def _charge(self, conn: DbConnection, charge: Charge) -> bool:
        if not await self._billing.insert_once(conn, charge):
            return False
        await self._record(conn, "charged", charge)
        await self._messaging.publish(conn, Charged(payload=charge.payload()))
        return True

    async def refund(self, charge_id: UUID, amount_fen: int, reason: str) -> Charge:
        """A negative charge naming the one it refunds; all refunds of a charge stay within it."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            refund = await self._refund(conn, charge_id, amount_fen, reason, now)
            await self._record(conn, "refunded", refund)
            await self._messaging.publish(conn, Refunded(payload=_refund_payload(refund)))
        return refund

    async def refund_requested(self, request: RefundRequest) -> Charge | Refusal | None:
        """A complaint asks for a refund of its user's charge (complaint.refund_requested): the
        refund made, or why it was refused (each answered by an event naming the request), or
        None when the request was handled before (a redelivery changes nothing). The request id
        is marked handled in the transaction that makes the refund."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._billing.claim_refund_request(
                conn,
                request.request_id,
                request.complaint_id,
                request.msisdn,
                request.charge_id,
                request.amount_fen,
                now,
            ):
                return None
            try:
                refund = await self._refund(
                    conn, request.charge_id, request.amount_fen, request.reason, now, of_user=request.msisdn
                )
            except REFUSALS as refused:  # nothing was written by the refund: the checks come first
                await self._billing.settle_refund_request(conn, request.request_id, None, refused.code)
                left = refused.extra.get("refundable_fen")
                await self._messaging.publish(
                    conn,
                    RefundFailed(
                        payload=RefundFailure(
                            request_id=request.request_id,
                            complaint_id=request.complaint_id,
                            msisdn=request.msisdn,
                            charge_id=request.charge_id,
                            amount_fen=request.amount_fen,
                            code=refused.code,
                            detail=refused.detail,
                            refundable_fen=left if isinstance(left, int) else None,
                            occurred_at=now,
                        )
                    ),
                )
                return refused
            await self._billing.settle_refund_request(conn, request.request_id, refund.id, None)
            await self._record(
                conn,
                "refunded",
                refund,
                {"complaint_id": str(request.complaint_id), "request_id": str(request.request_id)},
            )
            await self._messaging.publish(conn, Refunded(payload=_refund_payload(refund, request)))
        return refund

    async def _refund(
        self,
        conn: DbConnection,
        charge_id: UUID,
        amount_fen: int,
        reason: str,
        now: datetime,
        *,
        of_user: str | None = None,
    ) -> Charge:
        """Inside the caller's transaction: the refund charge, after every check (a refused one
        writes nothing). `of_user`: the charge must be this user's."""
        if amount_fen <= 0:
            raise RefundAmountInvalid(f"{amount_fen} fen is not an amount to refund")
        # The row lock makes concurrent refunds of one charge take turns.
        original = await self._billing.get(conn, charge_id, for_update=True)
        if original is None:
            raise ChargeNotFound(f"charge {charge_id} does not exist")
        if of_user is not None and original.msisdn != of_user:
            raise ChargeOfAnotherUser(f"charge {charge_id} is not a charge of {of_user}")
        if original.refund_of is not None or original.amount_fen <= 0:
            raise ChargeNotRefundable(f"charge {charge_id} is a refund")
        refunded = await self._billing.refunded(conn, charge_id)
        left = domain.refundable(original.amount_fen, refunded)
        if amount_fen > left:
            raise RefundExceedsCharge(
                f"{amount_fen} fen asked, {left} fen of charge {charge_id} is left to refund",
                extra={
                    "charged_fen": original.amount_fen,
                    "refunded_fen": refunded,
                    "refundable_fen": left,
                },
            )
        refund = Charge(
            id=uuid.uuid4(),
            msisdn=original.msisdn,
            subscription_id=original.subscription_id,
            product_id=original.product_id,
            product_code=original.product_code,
            amount_fen=-amount_fen,
            reason=reason,
            charged_at=now,
            period=original.period,
            message_id=original.message_id,
            refund_of=original.id,
        )
        await self._billing.insert_once(conn, refund)
        return refund

    async def charges_of(self, msisdn: str, month: str | None) -> UserCharges:
        """The user's charges and refunds made in a month (Asia/Shanghai; default: this month)."""
        month = month or domain.period_of(self._clock.now())
        start, end = domain.period_bounds(month)
        async with self._pool.acquire() as conn:
            charges = await self._billing.of_user(conn, msisdn, start, end)
        return UserCharges(msisdn, month, charges)

    async def _record(
        self, conn: DbConnection, kind: str, charge: Charge, also: dict[str, object] | None = None
    ) -> None:
        detail: dict[str, object] = {
            "charge_id": str(charge.id),
            "amount_fen": charge.amount_fen,
            "reason": charge.reason,
            **(also or {}),
        }
        if charge.period is not None:
            detail["period"] = charge.period
        if charge.message_id is not None:
            detail["message_id"] = str(charge.message_id)
        if charge.refund_of is not None:
            detail["refund_of"] = str(charge.refund_of)
        await self._messaging.records.add(
            conn,
            charge.charged_at,
            charge.msisdn,
            kind,
            subscription_id=charge.subscription_id,
            product_code=charge.product_code,
            detail=detail,
        )


def _refund_payload(refund: Charge, request: RefundRequest | None = None) -> RefundCharge:
    return RefundCharge(
        **refund.payload().model_dump(),
        refund_of=refund.refund_of,
        request_id=request.request_id if request else None,
        complaint_id=request.complaint_id if request else None,
    )
