"""Who may receive what, and whose records are held: state other services tell in events."""

from __future__ import annotations

import asyncpg

from sms_sender.repository.eligibility import EligibilityRepository
from vas_common.events import Event
from vas_common.events.complaints import HoldPlaced, HoldReleased
from vas_common.events.subscription import (
    SUBSCRIPTION_EVENTS as SUBSCRIPTION_STATE_EVENTS,
)
from vas_common.events.subscription import (
    LegalHoldChanged,
    ProductCreated,
    UserOptedIn,
    UserOptedOut,
)


class Eligibility:
    """Applies subscription.events to the sms-sender's own tables: active subscriptions (product
    content goes only to them), opt-outs (00000: no content at all), legal holds; and from
    complaint.events the dispute holds of complaints. Holds are per (number, holder)."""

    def __init__(self, pool: asyncpg.Pool, repo: EligibilityRepository | None = None) -> None:
        self._pool = pool
        self._repo = repo or EligibilityRepository()

    async def apply(self, event: Event) -> None:
        async with self._pool.acquire() as conn:
            if isinstance(event, ProductCreated):
                await self._repo.set_product_owner(conn, event.payload.product_code, event.payload.partner_id)
            elif isinstance(event, SUBSCRIPTION_STATE_EVENTS):
                state = event.payload
                # Also names the product's owner: products created before product.created existed.
                await self._repo.set_product_owner(conn, state.product_code, state.partner_id)
                await self._repo.set_subscription(
                    conn, state.msisdn, state.product_code, state.status == "active"
                )
            elif isinstance(event, UserOptedOut | UserOptedIn):
                await self._repo.set_opted_out(
                    conn, event.payload.msisdn, isinstance(event, UserOptedOut), event.payload.occurred_at
                )
            elif isinstance(event, LegalHoldChanged):
                hold = event.payload
                await self._repo.set_hold(
                    conn, hold.msisdn, hold.holder, hold.held, hold.reason, hold.occurred_at
                )
            elif isinstance(event, HoldPlaced | HoldReleased):
                change = event.payload
                await self._repo.set_hold(
                    conn,
                    change.msisdn,
                    change.holder,
                    isinstance(event, HoldPlaced),
                    change.reason,
                    change.occurred_at,
                )
