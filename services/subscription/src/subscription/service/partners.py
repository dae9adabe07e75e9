"""Partner use cases: creation, key rotation, status and profile changes; events via the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from subscription import domain
from subscription.domain import Partner, SendingProfile
from subscription.repository.partners import PartnerNameTaken, PartnerRepository
from vas_common.auth import AuthenticatedPartner, IssuedApiKey
from vas_common.db import DbConnection
from vas_common.errors import Conflict, NotFound
from vas_common.events.envelope import utcnow
from vas_common.events.subscription import (
    PartnerCreated,
    PartnerKeyRotated,
    PartnerProfileChanged,
    PartnerStatus,
    PartnerStatusChanged,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.outbox import OutboxRepository


class PartnerNameConflict(Conflict):
    code = "partner_name_taken"
    title = "A partner with this name exists"


class AccessNumberOverlaps(Conflict):
    code = "access_number_overlaps"
    title = "The access number overlaps one in use"


class PartnerNotFound(NotFound):
    code = "partner_not_found"
    title = "No such partner"


class PartnerService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        partners: PartnerRepository | None = None,
        outbox: OutboxRepository | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        system_access_number: str,
    ) -> None:
        self._pool = pool
        self._system_access_number = system_access_number
        self._partners = partners or PartnerRepository()
        self._outbox = outbox or OutboxRepository()
        self._clock = clock

    async def create(self, name: str, profile: SendingProfile | None = None) -> tuple[Partner, IssuedApiKey]:
        partner, key = domain.new_partner(name, self._clock(), profile)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._check_access_number(conn, partner)
            try:
                await self._partners.insert(conn, partner)
            except PartnerNameTaken as exc:
                raise PartnerNameConflict(f"a partner named {partner.name!r} already exists") from exc
            await self._outbox.enqueue(conn, SUBSCRIPTION_EVENTS, PartnerCreated(payload=partner.state()))
        return partner, key

    async def rotate_key(self, partner_id: UUID) -> tuple[Partner, IssuedApiKey]:
        async with self._pool.acquire() as conn, conn.transaction():
            current = await self._partners.get(conn, partner_id, for_update=True)
            if current is None:
                raise PartnerNotFound(f"partner {partner_id} does not exist")
            partner, key = domain.rotate_key(current, self._clock())
            await self._partners.update(conn, partner)
            await self._outbox.enqueue(conn, SUBSCRIPTION_EVENTS, PartnerKeyRotated(payload=partner.state()))
        return partner, key

    async def update(
        self, partner_id: UUID, status: PartnerStatus | None, profile_changes: Mapping[str, Any]
    ) -> Partner:
        """Change status and/or the named fields of the sending profile (the others are kept);
        one event per kind of change."""
        async with self._pool.acquire() as conn, conn.transaction():
            partner = await self._partners.get(conn, partner_id, for_update=True)
            if partner is None:
                raise PartnerNotFound(f"partner {partner_id} does not exist")
            now = self._clock()
            events: list[PartnerStatusChanged | PartnerProfileChanged] = []
            if status is not None and (changed := domain.change_status(partner, status, now)) is not None:
                partner = changed
                events.append(PartnerStatusChanged(payload=partner.state()))
            profile = domain.merged_profile(partner.profile, profile_changes)
            if (changed := domain.change_profile(partner, profile, now)) is not None:
                if changed.profile.access_number != partner.profile.access_number:
                    await self._check_access_number(conn, changed)
                partner = changed
                events.append(PartnerProfileChanged(payload=partner.state()))
            if events:
                await self._partners.update(conn, partner)
            for event in events:
                await self._outbox.enqueue(conn, SUBSCRIPTION_EVENTS, event)
        return partner

    async def _check_access_number(self, conn: DbConnection, partner: Partner) -> None:
        """A partner's access number is its own range: with any extension it must stay apart from
        every other partner's and from the provider's own system number."""
        number = partner.profile.access_number
        if number is None:
            return
        await self._partners.lock_access_numbers(conn)
        if domain.access_numbers_overlap(number, self._system_access_number):
            overlapping: str | None = self._system_access_number
        else:
            overlapping = await self._partners.overlapping_access_number(conn, number, partner.id)
        if overlapping is not None:
            raise AccessNumberOverlaps(
                f"access number {number} overlaps {overlapping}, which is in use: one is a prefix of the other",
                extra={"access_number": number, "overlaps": overlapping},
            )

    async def get(self, partner_id: UUID) -> Partner:
        async with self._pool.acquire() as conn:
            partner = await self._partners.get(conn, partner_id)
        if partner is None:
            raise PartnerNotFound(f"partner {partner_id} does not exist")
        return partner

    async def list(self, limit: int, after: UUID | None) -> list[Partner]:
        async with self._pool.acquire() as conn:
            return await self._partners.list(conn, limit, after)

    async def authenticate(self, key_sha256: str) -> AuthenticatedPartner | None:
        async with self._pool.acquire() as conn:
            partner = await self._partners.get_by_key_hash(conn, key_sha256)
        if partner is None or partner.status != PartnerStatus.ACTIVE:
            return None
        return AuthenticatedPartner(partner_id=str(partner.id), name=partner.name)
