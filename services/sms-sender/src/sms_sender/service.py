"""Use cases of the sms-sender."""

from __future__ import annotations

import logging

import asyncpg
from vas_common.auth import AuthenticatedPartner
from vas_common.events.subscription import PartnerState, PartnerStatus

from sms_sender.repository import PartnerCopyRepository

logger = logging.getLogger(__name__)


class PartnerDirectory:
    """sms-sender's own view of the partners, fed by subscription.events."""

    def __init__(self, pool: asyncpg.Pool, partners: PartnerCopyRepository | None = None) -> None:
        self._pool = pool
        self._partners = partners or PartnerCopyRepository()

    async def apply(self, state: PartnerState) -> bool:
        async with self._pool.acquire() as conn:
            stored = await self._partners.upsert_if_newer(conn, state)
        if stored:
            logger.info("partner %s now at revision %d (%s)", state.partner_id, state.revision, state.status)
        return stored

    async def authenticate(self, key_sha256: str) -> AuthenticatedPartner | None:
        async with self._pool.acquire() as conn:
            row = await self._partners.find_by_key_hash(conn, key_sha256)
        if row is None or row["status"] != PartnerStatus.ACTIVE.value:
            return None
        return AuthenticatedPartner(partner_id=str(row["id"]), name=row["name"])
