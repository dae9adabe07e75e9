"""The steps of an order, inside the caller's transaction: place it (the confirmation SMS), confirm
it, cancel it (the SMS that says so). The API use cases and the SMS conversation both take them,
so an order placed or cancelled either way leaves the same records, events and texts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from subscription import domain
from subscription.domain import Product, Subscription, SubscriptionStatus
from subscription.repository.partners import PartnerRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.messaging import Messaging, reply_id, subscription_state
from vas_common.db import DbConnection
from vas_common.events.subscription import (
    SubscriptionCancelled,
    SubscriptionConfirmed,
    SubscriptionRequested,
    UserOptedIn,
    UserPreference,
)

CancelText = Callable[[str, Sequence[Subscription]], str]


class OrderSteps:
    def __init__(
        self,
        provider: str,
        subscriptions: SubscriptionRepository,
        partners: PartnerRepository,
        messaging: Messaging,
    ) -> None:
        self._provider = provider
        self._subs = subscriptions
        self._partners = partners
        self._messaging = messaging

    async def place(
        self,
        conn: DbConnection,
        msisdn: str,
        product: Product,
        channel: str,
        now: datetime,
        request_id: UUID | None,
    ) -> Subscription:
        """A pending order and the confirmation SMS; AlreadySubscribed when the user has the
        product open (nothing is changed then: the insert is a savepoint of its own)."""
        sub_id = uuid.uuid4()
        # The confirmation SMS's id is the sms-sender's message id: kept on the order, so that
        # its delivery status (sms.status) can be matched to it.
        request_id = request_id or uuid.uuid4()
        async with conn.transaction():
            await self._subs.insert_pending(
                conn, sub_id, msisdn, product.id, channel, now, now + domain.CONFIRMATION_WINDOW, request_id
            )
        sub = await self._subs.get(conn, sub_id)
        assert sub is not None
        partner = await self._partners.get(conn, product.partner_id)
        await self._messaging.record(conn, now, msisdn, "requested", sub, channel)
        await self._messaging.sms(
            conn,
            msisdn,
            domain.confirmation_request(self._provider, product, partner.name if partner else ""),
            now,
            purpose="confirmation_request",
            subscription_id=sub.id,
            product_code=sub.product_code,
            request_id=request_id,
        )
        await self._messaging.record(conn, now, msisdn, "confirmation_sent", sub)
        await self._messaging.publish(
            conn, SubscriptionRequested(payload=subscription_state(sub, "pending", now))
        )
        return sub

    async def confirm(self, conn: DbConnection, sub: Subscription, now: datetime, cause: UUID) -> None:
        await self._subs.set_status(conn, sub.id, SubscriptionStatus.ACTIVE, now)
        await self._messaging.record(conn, now, sub.msisdn, "confirmed", sub, "sms")
        await self._messaging.publish(
            conn,
            SubscriptionConfirmed(payload=subscription_state(sub, "active", now)),
            UserOptedIn(payload=UserPreference(msisdn=sub.msisdn, occurred_at=now)),
        )
        await self._messaging.sms(
            conn,
            sub.msisdn,
            domain.confirmed_text(self._provider, sub),
            now,
            purpose="confirmed",
            subscription_id=sub.id,
            product_code=sub.product_code,
            request_id=reply_id(cause, "confirmed"),
        )

    async def cancel(
        self,
        conn: DbConnection,
        subs: Sequence[Subscription],
        channel: str,
        now: datetime,
        cause: UUID | None,
        text: CancelText = domain.cancelled_text,
    ) -> None:
        """Cancel these open subscriptions of one user at once (billing stops, the sms-sender
        stops their content) and tell the user in one SMS which were cancelled."""
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
            text(self._provider, subs),
            now,
            purpose="cancelled",
            request_id=reply_id(cause, "cancelled") if cause else None,
        )
