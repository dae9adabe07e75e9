"""Products with clear tariffs, the public catalogue, and the dated notices: discontinuing a
product (≥ 30 days) and suspending a user (≥ 24 h), applied when their date comes."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from uuid import UUID

import asyncpg

from subscription import domain
from subscription.domain import BillingType, CatalogueEntry, Product, ProductStatus, SubscriptionStatus
from subscription.repository.notices import ScheduledChange, ScheduledChangeRepository
from subscription.repository.partners import PartnerRepository
from subscription.repository.products import ProductCodeTaken, ProductRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.messaging import Messaging, subscription_state
from subscription.service.orders import OrderSteps
from subscription.service.subscriptions import ProductNotFound
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.errors import Conflict, ValidationFailed
from vas_common.events.subscription import (
    ProductCreated,
    ProductDiscontinuationScheduled,
    ProductDiscontinued,
    ProductListing,
    ProductNotice,
    ProductOwnership,
    ProductPublished,
    SubscriptionEnded,
    SubscriptionSuspended,
    SuspensionNotice,
    SuspensionScheduled,
)


class ProductCodeConflict(Conflict):
    code = "product_code_taken"
    title = "The product code (SMS keyword) is in use"


class ProductCodeReserved(ValidationFailed):
    code = "product_code_reserved"
    title = "The product code is a word users send for something else"


class ProductIncomplete(ValidationFailed):
    code = "product_incomplete"
    title = "A product needs every disclosure before it can be published"


class NoticeTooShort(ValidationFailed):
    code = "notice_too_short"
    title = "Not enough notice"


class ProductNotDiscontinuable(Conflict):
    code = "product_not_discontinuable"
    title = "Only a published product can be discontinued"


class ProductService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        provider_name: str,
        products: ProductRepository | None = None,
        subscriptions: SubscriptionRepository | None = None,
        changes: ScheduledChangeRepository | None = None,
        messaging: Messaging | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._provider = provider_name
        self._products = products or ProductRepository()
        self._subs = subscriptions or SubscriptionRepository()
        self._changes = changes or ScheduledChangeRepository()
        self._messaging = messaging or Messaging()
        self._partners = PartnerRepository()
        self._steps = OrderSteps(provider_name, self._subs, self._partners, self._messaging)

    async def create(self, partner_id: UUID, fields: dict[str, object]) -> Product:
        now = self._clock.now()
        product = Product(
            id=uuid.uuid4(),
            partner_id=partner_id,
            status=ProductStatus.DRAFT,
            discontinue_at=None,
            created_at=now,
            updated_at=now,
            **{
                **fields,
                "code": str(fields["code"]).upper(),
                "billing_type": BillingType(str(fields["billing_type"])),
            },  # type: ignore[arg-type]
        )
        reserved = domain.reserved_word(product.code)
        if reserved is not None:
            raise ProductCodeReserved(
                f"code {product.code} would be read as the command {reserved}: no user could order it",
                extra={"reserved_word": reserved},
            )
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await self._products.insert(conn, product)
            except ProductCodeTaken as exc:
                raise ProductCodeConflict(f"code {product.code} is used by another product") from exc
            await self._messaging.publish(
                conn,
                ProductCreated(
                    payload=ProductOwnership(
                        product_id=product.id,
                        product_code=product.code,
                        partner_id=partner_id,
                        occurred_at=now,
                    )
                ),
            )
        return product

    async def get(self, product_id: UUID, partner_id: UUID | None = None) -> Product:
        async with self._pool.acquire() as conn:
            product = await self._products.get(conn, product_id)
        if product is None or (partner_id is not None and product.partner_id != partner_id):
            raise ProductNotFound(f"product {product_id} does not exist")
        return product

    async def publish(self, product_id: UUID, partner_id: UUID | None) -> Product:
        product = await self.get(product_id, partner_id)
        missing = product.missing_disclosures()
        if missing:
            raise ProductIncomplete(
                "a user must be told all of this before signing up: " + ", ".join(missing),
                extra={"missing": missing},
            )
        if product.status is not ProductStatus.DRAFT:
            return product
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            locked = await self._products.get(conn, product.id, for_update=True)
            if locked is None or locked.status is not ProductStatus.DRAFT:
                return locked or product  # published meanwhile: announced by that request
            await self._products.set_status(conn, product.id, ProductStatus.PUBLISHED, now)
            partner = await self._partners.get(conn, product.partner_id)
            await self._messaging.publish(
                conn, ProductPublished(payload=_listing(product, partner.name if partner else "", now))
            )
        return replace(product, status=ProductStatus.PUBLISHED, updated_at=now)

    async def catalogue(self) -> list[CatalogueEntry]:
        async with self._pool.acquire() as conn:
            return await self._products.catalogue(conn)

    async def of_partner(self, partner_id: UUID) -> list[Product]:
        async with self._pool.acquire() as conn:
            return await self._products.of_partner(conn, partner_id)

    # -- notices -------------------------------------------------------------------------

    async def schedule_discontinuation(
        self, product_id: UUID, effective_at: datetime, reason: str, partner_id: UUID | None
    ) -> tuple[Product, int]:
        """≥ 30 days' notice: every active subscriber is told now; the product ends on the date."""
        now = self._clock.now()
        if effective_at - now < domain.DISCONTINUE_NOTICE:
            raise NoticeTooShort(
                f"a product can be discontinued only with at least {domain.DISCONTINUE_NOTICE.days} days' notice",
                extra={"earliest": (now + domain.DISCONTINUE_NOTICE).isoformat()},
            )
        async with self._pool.acquire() as conn, conn.transaction():
            product = await self._products.get(conn, product_id, for_update=True)
            if product is None or (partner_id is not None and product.partner_id != partner_id):
                raise ProductNotFound(f"product {product_id} does not exist")
            if product.status is not ProductStatus.PUBLISHED:
                raise ProductNotDiscontinuable(f"product {product.code} is {product.status}")
            await self._products.set_status(conn, product.id, ProductStatus.DISCONTINUING, now, effective_at)
            await self._changes.add(
                conn,
                ScheduledChange(
                    uuid.uuid4(), "discontinue_product", product.id, None, effective_at, reason, now
                ),
            )
            await self._withdraw_pending_orders(conn, product, effective_at, now)
            subscribers = await self._subs.of_product(
                conn, product.id, [SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED]
            )
            text = domain.discontinue_notice(self._provider, product.name, effective_at)
            for sub in subscribers:
                await self._messaging.sms(
                    conn,
                    sub.msisdn,
                    text,
                    now,
                    purpose="discontinue_notice",
                    subscription_id=sub.id,
                    product_code=product.code,
                )
                await self._messaging.record(
                    conn, now, sub.msisdn, "notice_sent", sub, effective_at=effective_at.isoformat()
                )
            await self._messaging.publish(
                conn,
                ProductDiscontinuationScheduled(
                    payload=ProductNotice(
                        product_id=product.id,
                        product_code=product.code,
                        effective_at=effective_at,
                        reason=reason,
                        noticed_at=now,
                    )
                ),
            )
        return replace(product, status=ProductStatus.DISCONTINUING, discontinue_at=effective_at), len(
            subscribers
        )

    async def _withdraw_pending_orders(
        self, conn: DbConnection, product: Product, effective_at: datetime, now: datetime
    ) -> None:
        """Orders still waiting for a Y are cancelled, with the date: a Y must not start a product
        that is being stopped."""
        for sub in await self._subs.of_product(conn, product.id, [SubscriptionStatus.PENDING]):
            await self._steps.cancel(
                conn,
                [sub],
                "discontinued",
                now,
                None,
                lambda provider, _: domain.discontinue_pending_notice(provider, product.name, effective_at),
            )

    async def schedule_suspension(self, msisdn: str, effective_at: datetime, reason: str) -> int:
        """≥ 24 h notice by SMS before a user's subscriptions are suspended."""
        now = self._clock.now()
        if effective_at - now < domain.SUSPEND_NOTICE:
            raise NoticeTooShort(
                "a user can be suspended only with at least 24 hours' notice",
                extra={"earliest": (now + domain.SUSPEND_NOTICE).isoformat()},
            )
        async with self._pool.acquire() as conn, conn.transaction():
            await self._changes.add(
                conn, ScheduledChange(uuid.uuid4(), "suspend_user", None, msisdn, effective_at, reason, now)
            )
            active = await self._subs.of_user(conn, msisdn, [SubscriptionStatus.ACTIVE])
            if active:  # a number with nothing to suspend is not bothered
                hotlines = []
                for product_id in dict.fromkeys(s.product_id for s in active):
                    product = await self._products.get(conn, product_id)
                    if product is not None and product.consult_hotline not in hotlines:
                        hotlines.append(product.consult_hotline)
                await self._messaging.sms(
                    conn,
                    msisdn,
                    domain.suspend_notice(self._provider, effective_at, reason, active, hotlines),
                    now,
                    purpose="suspend_notice",
                )
                await self._messaging.record(
                    conn,
                    now,
                    msisdn,
                    "notice_sent",
                    None,
                    reason=reason,
                    effective_at=effective_at.isoformat(),
                )
            await self._messaging.publish(
                conn,
                SuspensionScheduled(
                    payload=SuspensionNotice(
                        msisdn=msisdn,
                        effective_at=effective_at,
                        reason=reason,
                        notified=len(active),
                        noticed_at=now,
                    )
                ),
            )
        return len(active)

    async def apply_due_changes(self) -> int:
        """Carry out the notices whose date has come (a job; safe to run from many replicas)."""
        now = self._clock.now()
        applied = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for change in await self._changes.due(conn, now):
                if change.kind == "discontinue_product" and change.product_id is not None:
                    await self._discontinue_now(conn, change, now)
                elif change.kind == "suspend_user" and change.msisdn is not None:
                    for sub in await self._subs.of_user(
                        conn, change.msisdn, [SubscriptionStatus.ACTIVE], lock=True
                    ):
                        await self._subs.set_status(conn, sub.id, SubscriptionStatus.SUSPENDED, now)
                        await self._messaging.record(
                            conn, now, sub.msisdn, "suspended", sub, reason=change.reason
                        )
                        await self._messaging.publish(
                            conn, SubscriptionSuspended(payload=subscription_state(sub, "suspended", now))
                        )
                await self._changes.mark_applied(conn, change.id, now)
                applied += 1
        return applied

    async def _discontinue_now(self, conn: DbConnection, change: ScheduledChange, now: datetime) -> None:
        assert change.product_id is not None
        product = await self._products.get(conn, change.product_id, for_update=True)
        if product is None:
            return
        for sub in await self._subs.of_product(conn, product.id, list(domain.OPEN_STATUSES)):
            await self._subs.set_status(
                conn, sub.id, SubscriptionStatus.ENDED, now, end_channel="discontinued"
            )
            await self._messaging.record(conn, now, sub.msisdn, "ended", sub, reason=change.reason)
            await self._messaging.publish(
                conn, SubscriptionEnded(payload=subscription_state(sub, "ended", now))
            )
        await self._products.set_status(conn, product.id, ProductStatus.DISCONTINUED, now)
        await self._messaging.publish(
            conn,
            ProductDiscontinued(
                payload=ProductNotice(
                    product_id=product.id, product_code=product.code, effective_at=now, reason=change.reason
                )
            ),
        )


def _listing(product: Product, provider: str, now: datetime) -> ProductListing:
    return ProductListing(
        product_id=product.id,
        product_code=product.code,
        partner_id=product.partner_id,
        name=product.name,
        provider=provider,
        billing_type=product.billing_type.value,
        price_fen=product.price_fen,
        price=product.price_text,
        description=product.description,
        availability=product.availability,
        how_to_cancel=product.how_to_cancel,
        charge_rule=product.charge_rule,
        month_rules=domain.catalogue_month_rules(
            product.billing_type, product.first_month, product.last_month
        ),
        fault_hotline=product.fault_hotline,
        consult_hotline=product.consult_hotline,
        occurred_at=now,
    )
