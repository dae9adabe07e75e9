"""Subscribing with double confirmation, unsubscribing in one step (always free), and the MO
commands that drive both: product code, Y, TD, TD<code>, 0000 (+ a number), 00000."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from subscription import domain
from subscription.domain import MoKind, ProductStatus, Subscription, SubscriptionStatus
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductRepository
from subscription.repository.subscriptions import AlreadySubscribed, SubscriptionRepository
from subscription.service.messaging import Messaging, reply_id, subscription_state
from vas_common.clock import Clock
from vas_common.db import DATABASE_UNAVAILABLE, DbConnection
from vas_common.errors import Conflict, NotFound, ValidationFailed
from vas_common.events.sms_sender import MessageState, MoMessage
from vas_common.events.subscription import (
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionExpired,
    SubscriptionRequested,
    UserOptedIn,
    UserOptedOut,
    UserPreference,
)

logger = logging.getLogger(__name__)


MENU_TTL = timedelta(hours=24)


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


class RegistrationMetrics:
    """Registration success = confirmations the system completed / confirmations users gave."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.confirmations = Counter(
            "subscription_confirmations_total",
            "User confirmations (Y) of a pending order",
            ["outcome"],
            registry=registry,
        )


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
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._provider = provider_name
        self._metrics = metrics or RegistrationMetrics(None)
        self._subs = subscriptions or SubscriptionRepository()
        self._products = products or ProductRepository()
        self._partners = partners or PartnerRepository()
        self._messaging = messaging or Messaging()

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
            sub_id = uuid.uuid4()
            try:
                await self._subs.insert_pending(
                    conn, sub_id, msisdn, product.id, channel, now, now + domain.CONFIRMATION_WINDOW
                )
            except AlreadySubscribed as exc:
                raise SubscriptionExists(f"{msisdn} already has {product.code}") from exc
            sub = await self._subs.get(conn, sub_id)
            assert sub is not None
            partner = await self._partners.get(conn, product.partner_id)
            text = domain.confirmation_request(self._provider, product, partner.name if partner else "")
            await self._messaging.record(conn, now, msisdn, "requested", sub, channel)
            await self._messaging.sms(
                conn,
                msisdn,
                text,
                now,
                purpose="confirmation_request",
                subscription_id=sub.id,
                product_code=sub.product_code,
                request_id=reply_id(cause, "confirmation") if cause else None,
            )
            await self._messaging.record(conn, now, msisdn, "confirmation_sent", sub)
            await self._messaging.publish(
                conn, SubscriptionRequested(payload=subscription_state(sub, "pending", now))
            )
        return sub

    async def confirm(
        self, conn: DbConnection, msisdn: str, now: datetime, cause: UUID
    ) -> Subscription | None:
        """The user's Y: confirms the newest pending subscription (within 24 h)."""
        sub = await self._subs.newest_pending(conn, msisdn, now)
        if sub is None:
            self._metrics.confirmations.labels("no_pending").inc()
            await self._messaging.sms(
                conn,
                msisdn,
                domain.no_pending_text(self._provider),
                now,
                purpose="no_pending",
                request_id=reply_id(cause, "no_pending"),
            )
            return None
        await self._subs.set_status(conn, sub.id, SubscriptionStatus.ACTIVE, now)
        await self._messaging.record(conn, now, msisdn, "confirmed", sub, "sms")
        await self._messaging.publish(
            conn,
            SubscriptionConfirmed(payload=subscription_state(sub, "active", now)),
            UserOptedIn(payload=UserPreference(msisdn=msisdn, occurred_at=now)),
        )
        await self._messaging.sms(
            conn,
            msisdn,
            domain.confirmed_text(self._provider, sub),
            now,
            purpose="confirmed",
            subscription_id=sub.id,
            product_code=sub.product_code,
            request_id=reply_id(cause, "confirmed"),
        )
        self._metrics.confirmations.labels("ok").inc()
        return sub

    # -- cancellation ----------------------------------------------------------------------

    async def _cancel(
        self, conn: DbConnection, subs: list[Subscription], channel: str, now: datetime, cause: UUID | None
    ) -> None:
        if not subs:
            return
        for sub in subs:
            await self._subs.set_status(conn, sub.id, SubscriptionStatus.CANCELLED, now, end_channel=channel)
            await self._messaging.record(conn, now, sub.msisdn, "cancelled", sub, channel)
            await self._messaging.publish(
                conn, SubscriptionCancelled(payload=subscription_state(sub, "cancelled", now))
            )
        await self._messaging.sms(
            conn,
            subs[0].msisdn,
            domain.cancelled_text(self._provider, subs),
            now,
            purpose="cancelled",
            request_id=reply_id(cause, "cancelled") if cause else None,
        )

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
                await self._cancel(conn, [sub], channel, now, None)
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
            now = self._clock.now()
            fresh = await self._subs.first_time_seen(conn, [mo.mo_id for mo in mos])
            work: list[tuple[MoMessage, domain.MoCommand]] = []
            for mo in mos:
                if mo.mo_id in fresh:
                    fresh.discard(mo.mo_id)  # the same MO twice in one batch: once
                    work.append((mo, domain.parse_mo(mo.text)))
            # 0000 is most of the MO traffic. A user who sends nothing else in this batch gets
            # the list read for all such users at once and the menu saved at the end; anyone
            # else's MO are handled in order, each seeing what the ones before it changed.
            senders = {mo.msisdn for mo, _ in work}
            senders -= {mo.msisdn for mo, command in work if command.kind is not MoKind.LIST}
            lists = (
                await self._subs.of_users(conn, list(senders), [SubscriptionStatus.ACTIVE]) if senders else {}
            )
            menus: dict[str, list[UUID]] = {}
            for mo, command in work:
                if mo.msisdn in senders:
                    active = lists.get(mo.msisdn, [])
                    await self._record_mo(conn, mo, command, now)
                    menus[mo.msisdn] = [s.id for s in active]
                    await self._reply(conn, mo, domain.list_text(self._provider, active), "list", now)
                else:
                    await self._handle_mo(conn, mo, command, now)
            if menus:
                await self._subs.save_menus(conn, menus, now + MENU_TTL)

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

    async def _record_mo(
        self, conn: DbConnection, mo: MoMessage, command: domain.MoCommand, now: datetime
    ) -> None:
        await self._messaging.record(
            conn,
            now,
            mo.msisdn,
            "sms_in",
            channel="sms",
            received_at=mo.received_at.isoformat(),
            text=mo.text,
            destination=mo.destination,
            command=command.kind.value,
        )

    async def _handle_mo(
        self, conn: DbConnection, mo: MoMessage, command: domain.MoCommand, now: datetime
    ) -> None:
        await self._record_mo(conn, mo, command, now)
        if command.kind is MoKind.CONFIRM:
            await self.confirm(conn, mo.msisdn, now, mo.mo_id)
        elif command.kind is MoKind.LIST:
            active = await self._subs.of_user(conn, mo.msisdn, [SubscriptionStatus.ACTIVE])
            await self._subs.save_menus(conn, {mo.msisdn: [s.id for s in active]}, now + MENU_TTL)
            await self._reply(conn, mo, domain.list_text(self._provider, active), "list", now)
        elif command.kind is MoKind.MENU_CHOICE:
            await self._menu_choice(conn, mo, int(command.argument or 0), now)
        elif command.kind is MoKind.UNSUBSCRIBE_ALL:
            active = await self._subs.of_user(
                conn, mo.msisdn, [SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING], lock=True
            )
            await self._cancel(conn, active, "sms_00000", now, mo.mo_id)
            await self._messaging.publish(
                conn, UserOptedOut(payload=UserPreference(msisdn=mo.msisdn, occurred_at=now))
            )
            if not active:
                await self._reply(conn, mo, domain.list_text(self._provider, []), "list", now)
        elif command.kind is MoKind.UNSUBSCRIBE:
            await self._td(conn, mo, command.argument, now)
        elif command.kind is MoKind.SUBSCRIBE and command.argument:
            await self._subscribe_by_sms(conn, mo, command.argument, now)
        else:
            await self._reply(conn, mo, domain.help_text(self._provider), "help", now)

    async def _reply(self, conn: DbConnection, mo: MoMessage, text: str, purpose: str, now: datetime) -> None:
        await self._messaging.sms(
            conn, mo.msisdn, text, now, purpose=purpose, request_id=reply_id(mo.mo_id, purpose)
        )

    async def _menu_choice(self, conn: DbConnection, mo: MoMessage, number: int, now: datetime) -> None:
        menu = await self._subs.menu(conn, mo.msisdn, now)
        if not 1 <= number <= len(menu):
            await self._reply(conn, mo, domain.help_text(self._provider), "help", now)
            return
        sub = await self._subs.get(conn, menu[number - 1])
        if sub is None or sub.status is not SubscriptionStatus.ACTIVE:
            await self._reply(conn, mo, domain.list_text(self._provider, []), "list", now)
            return
        await self._cancel(conn, [sub], "sms_0000", now, mo.mo_id)

    async def _td(self, conn: DbConnection, mo: MoMessage, code: str | None, now: datetime) -> None:
        active = await self._subs.of_user(conn, mo.msisdn, [SubscriptionStatus.ACTIVE], lock=True)
        if code is not None:
            targets = [s for s in active if s.product_code == code]
        else:
            target = domain.pick_td_target(active)
            targets = [target] if target else []
        if targets:
            await self._cancel(conn, targets, "sms_td", now, mo.mo_id)
            return
        # Unclear (several products, none recently received) or nothing to cancel: list them.
        await self._subs.save_menus(conn, {mo.msisdn: [s.id for s in active]}, now + MENU_TTL)
        await self._reply(conn, mo, domain.list_text(self._provider, active), "list", now)

    async def _subscribe_by_sms(self, conn: DbConnection, mo: MoMessage, code: str, now: datetime) -> None:
        product = await self._products.by_code(conn, code)
        if product is None or product.status is not ProductStatus.PUBLISHED:
            await self._reply(conn, mo, domain.help_text(self._provider), "help", now)
            return
        # Within this MO's transaction: the request use case without its own transaction.
        sub_id = uuid.uuid4()
        try:
            async with conn.transaction():  # a savepoint: a duplicate order must not undo the MO record
                await self._subs.insert_pending(
                    conn, sub_id, mo.msisdn, product.id, "sms", now, now + domain.CONFIRMATION_WINDOW
                )
        except AlreadySubscribed:
            active = await self._subs.of_user(conn, mo.msisdn, [SubscriptionStatus.ACTIVE])
            await self._reply(conn, mo, domain.list_text(self._provider, active), "list", now)
            return
        sub = await self._subs.get(conn, sub_id)
        assert sub is not None
        partner = await self._partners.get(conn, product.partner_id)
        await self._messaging.record(conn, now, mo.msisdn, "requested", sub, "sms")
        await self._messaging.sms(
            conn,
            mo.msisdn,
            domain.confirmation_request(self._provider, product, partner.name if partner else ""),
            now,
            purpose="confirmation_request",
            subscription_id=sub.id,
            product_code=sub.product_code,
            request_id=reply_id(mo.mo_id, "confirmation"),
        )
        await self._messaging.record(conn, now, mo.msisdn, "confirmation_sent", sub)
        await self._messaging.publish(
            conn, SubscriptionRequested(payload=subscription_state(sub, "pending", now))
        )

    # -- jobs and feeds --------------------------------------------------------------------

    async def expire_pending(self) -> int:
        """No Y within 24 h: the order ends as expired (nothing billed, nothing sent)."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            due = await self._subs.due_for_expiry(conn, now)
            for sub in due:
                await self._subs.set_status(
                    conn, sub.id, SubscriptionStatus.EXPIRED, now, end_channel="expiry"
                )
                await self._messaging.record(conn, now, sub.msisdn, "expired", sub)
                await self._messaging.publish(
                    conn, SubscriptionExpired(payload=subscription_state(sub, "expired", now))
                )
        return len(due)

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
    ) -> tuple[datetime, datetime, dict[str, float | int]]:
        """Confirmations completed / confirmations users gave for a pending order (promise: ≥ 99.9 %),
        over [since, until); by default the last 30 days."""
        until = until or self._clock.now() + timedelta(seconds=1)
        since = since or until - timedelta(days=30)
        async with self._pool.acquire() as conn:
            given, confirmed = await self._messaging.records.confirmation_counts(conn, since, until)
        figure: dict[str, float | int] = {
            "confirmations_given": given,
            "confirmed": confirmed,
            "rate": confirmed / given if given else 1.0,
        }
        return since, until, figure
