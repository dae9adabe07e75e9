"""The status page's own use cases: keeping the catalogue as subscription.events announce it,
the published commitments, and what the page and its feed show of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from incident.status.domain import Commitment, PublishedProduct
from incident.status.repository import StatusRepository
from vas_common.clock import Clock
from vas_common.errors import NotFound
from vas_common.events.subscription import ProductListing

# How long a discontinued product stays on the page (with its end date) after it ended.
ENDED_SHOWN_FOR = timedelta(days=90)


class CommitmentNotFound(NotFound):
    code = "commitment_not_found"
    title = "No such commitment"


@dataclass(frozen=True)
class Published:
    """What the page publishes besides incidents and maintenance."""

    commitments: list[Commitment]
    products: list[PublishedProduct]


class StatusService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, repository: StatusRepository | None = None) -> None:
        self._pool = pool
        self._clock = clock
        self._status = repository or StatusRepository()

    # -- from subscription.events ----------------------------------------------------------

    async def note_listing(self, listing: ProductListing) -> None:
        async with self._pool.acquire() as conn:
            await self._status.upsert_listing(
                conn,
                listing.product_id,
                listing.product_code,
                listing.partner_id,
                listing.model_dump(mode="json"),
                listing.occurred_at,
                self._clock.now(),
            )

    async def note_discontinuation(self, product_id: UUID, effective_at: datetime, reason: str) -> None:
        """A product announced to end (subscribers were told 30 days ahead); one never announced
        as published (before announcements existed) is not on the page and stays off it."""
        async with self._pool.acquire() as conn:
            await self._status.set_discontinuation(conn, product_id, effective_at, reason, self._clock.now())

    async def note_discontinued(self, product_id: UUID, at: datetime) -> None:
        async with self._pool.acquire() as conn:
            await self._status.set_discontinued(conn, product_id, at, self._clock.now())

    # -- what is published -----------------------------------------------------------------

    async def published(self) -> Published:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            commitments = await self._status.commitments(conn)
            products = await self._status.products(conn, ended_since=now - ENDED_SHOWN_FOR)
        return Published(commitments, products)

    async def commitments(self) -> list[Commitment]:
        async with self._pool.acquire() as conn:
            return await self._status.commitments(conn)

    async def change_commitment(self, key: str, title: str, promise: str, actor: str) -> Commitment:
        async with self._pool.acquire() as conn:
            changed = await self._status.update_commitment(
                conn, key, title, promise, self._clock.now(), actor
            )
        if changed is None:
            raise CommitmentNotFound(f"no commitment {key!r}")
        return changed
