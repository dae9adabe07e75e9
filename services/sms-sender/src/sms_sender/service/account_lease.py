"""The operator's limits are the SMSC account's: its binds and TPS are shared by however many
dispatchers run. Each dispatcher holds a lease row in PostgreSQL, renewed every heartbeat; at
each heartbeat it reads the live members and applies its share (domain.account_share) to its
connector. A new member takes nothing until it has been a member for `settle_s` (two
heartbeats: every other member has lowered its share by then), unless it is alone; a member
that cannot renew its lease drops its binds before the others could count it dead."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from typing import Protocol

import asyncpg

from sms_sender import domain
from sms_sender.domain import AccountShare
from sms_sender.repository.account_members import AccountMemberRepository

logger = logging.getLogger(__name__)


class LimitedConnector(Protocol):
    def set_limits(self, binds: int, tps: float) -> Awaitable[None]: ...


class AccountLease:
    def __init__(
        self,
        pool: asyncpg.Pool,
        connector: LimitedConnector,
        *,
        account: str,
        account_binds: int,
        account_tps: float,
        heartbeat_s: float,
        ttl_s: float,
        members: AccountMemberRepository | None = None,
    ) -> None:
        self._pool = pool
        self._connector = connector
        self._account = account
        self._binds = account_binds
        self._tps = account_tps
        self._heartbeat_s = heartbeat_s
        self._ttl_s = ttl_s
        self._members = members or AccountMemberRepository()
        self.member = uuid.uuid4().hex
        self.share: AccountShare | None = None
        self._renewed_at: float | None = None  # event-loop time of the last renewal

    async def beat(self) -> AccountShare:
        """Renew the lease and apply this member's share (also the first time: joining)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                membership = await self._members.heartbeat(conn, self._account, self.member, self._ttl_s)
        except Exception:
            # The others count this member dead once its lease expires: be down before that.
            if (
                self._renewed_at is None
                or loop.time() - self._renewed_at >= self._ttl_s - 2 * self._heartbeat_s
            ):
                await self._apply(AccountShare(0, 0.0), members=None)
            raise
        self._renewed_at = started
        share = domain.account_share(
            members=membership.members,
            me=self.member,
            settled=membership.member_for_s >= 2 * self._heartbeat_s,
            account_binds=self._binds,
            account_tps=self._tps,
        )
        await self._apply(share, members=len(membership.members))
        return share

    async def _apply(self, share: AccountShare, members: int | None) -> None:
        if share == self.share:
            return
        logger.info(
            "SMSC account %s: this dispatcher's share is %d of %d binds and %.1f of %.1f TPS (%s)",
            self._account,
            share.binds,
            self._binds,
            share.tps,
            self._tps,
            f"{members} members" if members is not None else "its lease could not be renewed",
        )
        if members is not None and members > self._binds:
            logger.warning(
                "SMSC account %s: %d dispatchers and %d binds: those without a bind send nothing;"
                " run at most as many dispatchers as the account has binds",
                self._account,
                members,
                self._binds,
            )
        self.share = share
        await self._connector.set_limits(share.binds, share.tps)

    async def leave(self) -> None:
        """Give the share back at once (after the connector has unbound)."""
        async with self._pool.acquire() as conn:
            await self._members.leave(conn, self._account, self.member)
