"""Subscribing with double confirmation and unsubscribing in one step (always free), by the
partner and operator APIs and by SMS (the conversation itself is in `conversation`); the jobs
and feeds around them, and the registration success rate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from subscription import domain
from subscription.domain import ProductStatus, Subscription, SubscriptionStatus
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.subscriptions import AlreadySubscribed, SubscriptionRepository
from subscription.service.conversation import RegistrationMetrics, SmsConversation
from subscription.service.messaging import Messaging, reply_id, subscription_state
from subscription.service.orders import OrderSteps
from vas_common.clock import Clock
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.errors import Conflict, NotFound, ValidationFailed
from vas_common.events.sms_sender import MessageState, MoMessage
from vas_common.events.subscription import ExpiredState, SubscriptionExpired

logger = logging.getLogger(__name__)


class ProductNotFound(NotFound):
    code = "product_not_found"
    title = "No such product"


class ProductNotOnSale(ValidationFailed):
    code = "product_not_on_sale"
    title = "The product is not published"


class SubscriptionExists(Conflict):
    code = "already_subscribed"
    title = "The user already has this product (pending or active)"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    title = "No such subscription"


@dataclass(frozen=True)
class RegistrationSuccess:
    since: datetime
    until: datetime
    orders: dict[str, int]  # orders, confirmed, failed, never_answered, withdrawn, waiting
    attempts: dict[str, int]  # confirmation attempts by outcome
    failed_by_reason: dict[str, int]  # the failed orders by ExpiryReason (each failure reason)

    @property
    def rate(self) -> float:
        decided = self.orders["confirmed"] + self.orders["failed"]
        return self.orders["confirmed"] / decided if decided else 1.0


class SubscriptionService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        provider_name: str,
        metrics: RegistrationMetrics | None = None,
        subscriptions: SubscriptionRepository | None = None,
        products: ProductRepository | None = None,
        partners: PartnerRepository | None = None,
        messaging: Messaging | None = None,
        leave_alone: Callable[[MoMessage], bool] = lambda _: False,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._provider = provider_name
        self._subs = subscriptions or SubscriptionRepository()
        self._products = products or ProductRepository()
        self._partners = partners or PartnerRepository()
        self._messaging = messaging or Messaging()
        self._steps = OrderSteps(provider_name, self._subs, self._partners, self._messaging)
        self._conversation = SmsConversation(
            provider_name,
            self._steps,
            self._subs,
            self._products,
            self._messaging,
            metrics or RegistrationMetrics(None),
            leave_alone,
        )

    # -- requests ------------------------------------------------------------------------

    async def request(
        self,
        msisdn: str,
        product_code: str,
        channel: str,
        *,
        partner_id: UUID | None = None,
        cause: UUID | None = None,
    ) -> Subscription:
        """A pending subscription and the confirmation SMS. The partner may only sell its own products."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            product = await self._products.by_code(conn, product_code)
            if product is None or (partner_id is not None and product.partner_id != partner_id):
                raise ProductNotFound(f"no product with code {product_code!r}")
            if product.status is not ProductStatus.PUBLISHED:
                raise ProductNotOnSale(f"product {product.code} is {product.status}")
            try:
                sub = await self._steps.place(
                    conn, msisdn, product, channel, now, reply_id(cause, "confirmation") if cause else None
                )
            except AlreadySubscribed as exc:
                raise SubscriptionExists(f"{msisdn} already has {product.code}") from exc
        return sub

    # -- cancellation ----------------------------------------------------------------------

    async def cancel(
        self, sub_id: UUID, channel: str, *, partner_id: UUID | None = None, msisdn: str | None = None
    ) -> Subscription:
        """Partner or operator API cancellation: at once, billing stops, the user is told. Only a
        subscription of the partner, or of the user, that the caller names."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            sub = await self._subs.get(conn, sub_id)
            if (
                sub is None
                or (partner_id is not None and sub.partner_id != partner_id)
                or (msisdn is not None and sub.msisdn != msisdn)
            ):
                raise SubscriptionNotFound(f"subscription {sub_id} does not exist")
            if sub.status in domain.OPEN_STATUSES:
                await self._steps.cancel(conn, [sub], channel, now, None)
            updated = await self._subs.get(conn, sub_id)
        assert updated is not None
        return updated

    # -- MO ------------------------------------------------------------------------------

    async def handle_mo(self, mo: MoMessage) -> None:
        await self._handle_mos([mo])

    async def _handle_mos(self, mos: Sequence[MoMessage]) -> None:
        """In one transaction, in order; an MO seen before (redelivered) is skipped."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(),
            self._messaging.batched(conn),
        ):
            await self._conversation.handle(conn, mos, self._clock.now())

    async def handle_mo_batch(self, mos: Sequence[MoMessage]) -> list[tuple[MoMessage, Exception]]:
        """Many MOs in one transaction (at hundreds a second, a COMMIT each was most of the
        cost). If the batch fails for anything but the database being away, each MO is tried
        on its own: returns those that fail alone, with their error; the rest are handled."""
        if not mos:
            return []
        try:
            await self._handle_mos(mos)
            return []
        except DATABASE_UNAVAILABLE:
            raise
        except Exception as exc:
            if len(mos) == 1:
                return [(mos[0], exc)]
            logger.warning("a batch of %d MO failed (%r); handling them one by one", len(mos), exc)
        failed: list[tuple[MoMessage, Exception]] = []
        for mo in mos:
            try:
                await self.handle_mo(mo)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                failed.append((mo, exc))
        return failed

    # -- jobs and feeds --------------------------------------------------------------------

    async def expire_pending(self) -> int:
        """No Y within 24 h: the order ends as expired (nothing billed, nothing sent). The event
        says whether the user had tried to answer while it waited, and why it expired
        (domain.expiry_reason: every reason but never_answered is a failure on us)."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            due = await self._subs.due_for_expiry(conn, now)
            answered = await self._messaging.records.answered(conn, [sub.id for sub in due]) if due else set()
            for sub in due:
                reason = domain.expiry_reason(sub, sub.id in answered)
                await self._subs.set_status(
                    conn, sub.id, SubscriptionStatus.EXPIRED, now, end_channel="expiry"
                )
                await self._subs.set_expiry_reason(conn, sub.id, reason)
                await self._messaging.record(conn, now, sub.msisdn, "expired", sub, reason=reason.value)
                state = subscription_state(sub, "expired", now)
                payload = ExpiredState(**state.model_dump(), answered=sub.id in answered, reason=reason.value)
                await self._messaging.publish(conn, SubscriptionExpired(payload=payload))
        return len(due)

    async def note_system_messages(self, statuses: Sequence[tuple[MessageState, datetime]]) -> int:
        """Final statuses of provider system messages: those of a waiting order's confirmation SMS
        are kept on it (what its expiry's reason is judged by); the rest change nothing. One
        statement for the lot; idempotent and independent of the order they come in. Each
        status comes with its event's time, for a status without a done time. Returns the
        orders changed."""
        fates = [f for f in (domain.system_message_fate(s, at) for s, at in statuses) if f is not None]
        if not fates:
            return 0
        async with self._pool.acquire() as conn:
            return await self._subs.record_confirmation_fates(conn, domain.strongest_fates(fates))

    async def note_content(self, content: MessageState, at: datetime) -> None:
        """A product's content message delivered: the raw record of it (once per message) and
        which product's content the user got last (what a bare TD cancels). Only content sent by
        the product's owner counts."""
        if content.product_code is None or content.partner_id is None:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await self._subs.note_content(
                conn, content.recipient, content.product_code, content.partner_id, at
            )
            await self._messaging.records.add_content_delivered(
                conn,
                at,
                content.recipient,
                content.product_code,
                content.partner_id,
                content.message_id,
                content.segments_total,
            )

    async def of_user(self, msisdn: str) -> list[Subscription]:
        async with self._pool.acquire() as conn:
            return await self._subs.of_user(conn, msisdn, list(SubscriptionStatus))

    async def get(self, sub_id: UUID, partner_id: UUID | None = None) -> Subscription:
        async with self._pool.acquire() as conn:
            sub = await self._subs.get(conn, sub_id)
        if sub is None or (partner_id is not None and sub.partner_id != partner_id):
            raise SubscriptionNotFound(f"subscription {sub_id} does not exist")
        return sub

    async def registration_success(
        self, since: datetime | None, until: datetime | None
    ) -> RegistrationSuccess:
        """Registration success (promise: ≥ 99.9 %) over the orders placed in [since, until), by
        default the last 30 days: confirmed / (confirmed + failed). An order failed when it
        expired unconfirmed for a reason on our side (ExpiryReason): the user tried to answer
        and we could not match or read it, the confirmation SMS finally failed, or it was not
        known delivered before the order's window closed. Orders whose user had the confirmation
        and never answered, orders withdrawn before a Y (by the user, the partner or a
        discontinuation) and orders still waiting are counted apart, not in the rate."""
        until = until or self._clock.now() + timedelta(seconds=1)
        since = since or until - timedelta(days=30)
        async with self._pool.acquire() as conn:
            orders, attempts, by_reason = await self._messaging.records.registration_outcomes(
                conn, since, until
            )
        return RegistrationSuccess(since, until, orders, attempts, by_reason)
