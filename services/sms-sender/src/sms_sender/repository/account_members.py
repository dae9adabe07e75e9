"""The dispatchers' leases on the SMSC account's limits (smsc_account_members)."""

from __future__ import annotations

from dataclasses import dataclass

from vas_common.db import DbConnection


@dataclass(frozen=True)
class Membership:
    members: list[str]  # the live members, this one included
    member_for_s: float  # how long this member has held its lease


class AccountMemberRepository:
    async def heartbeat(self, conn: DbConnection, account: str, member: str, ttl_s: float) -> Membership:
        """Renew (or take) this member's lease for `ttl_s`, drop the expired ones, and read who
        is live. Run in a transaction."""
        member_for_s = await conn.fetchval(
            """
            INSERT INTO smsc_account_members AS m (account, member, joined_at, expires_at)
            VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3))
            ON CONFLICT (account, member) DO UPDATE SET expires_at = EXCLUDED.expires_at
            RETURNING extract(epoch FROM clock_timestamp() - m.joined_at)::float8
            """,
            account,
            member,
            ttl_s,
        )
        await conn.execute(
            "DELETE FROM smsc_account_members WHERE account = $1 AND expires_at < clock_timestamp()", account
        )
        rows = await conn.fetch("SELECT member FROM smsc_account_members WHERE account = $1", account)
        return Membership(members=[r["member"] for r in rows], member_for_s=member_for_s)

    async def leave(self, conn: DbConnection, account: str, member: str) -> None:
        await conn.execute(
            "DELETE FROM smsc_account_members WHERE account = $1 AND member = $2", account, member
        )
