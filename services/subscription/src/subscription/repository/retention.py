"""Holds and retention SQL: holds per (number, holder), monthly partitions of order_records, and
removing records and charges older than the horizon unless their user is held (by anyone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from subscription.domain import SHANGHAI
from vas_common.db import (
    MAINTENANCE_STATEMENT_TIMEOUT_S,
    DbConnection,
    drop_partition,
    ensure_monthly_partitions,
    list_partitions,
    quote_ident,
    rows_affected,
)

RECORDS_TABLE = "order_records"


def _held(user: str) -> str:
    """SQL: whether the user of a row (`user`: its msisdn column) is held, by any holder."""
    return f"EXISTS (SELECT 1 FROM record_holds h WHERE h.msisdn = {user})"


@dataclass(frozen=True)
class Hold:
    msisdn: str
    holder: str  # legal | legal:<name> | complaint:<complaint id>
    reason: str
    placed_at: datetime


_HOLD_COLUMNS = "msisdn, holder, reason, placed_at"


class HoldRepository:
    """Holds per (number, holder): a number's records are kept while any of its holders remains."""

    async def place(self, conn: DbConnection, msisdn: str, holder: str, reason: str, at: datetime) -> Hold:
        """Place a hold, or give an existing one the new reason (it keeps its first placed_at)."""
        row = await conn.fetchrow(
            f"""
            INSERT INTO record_holds ({_HOLD_COLUMNS}) VALUES ($1, $2, $3, $4)
            ON CONFLICT (msisdn, holder) DO UPDATE SET reason = EXCLUDED.reason
            RETURNING {_HOLD_COLUMNS}
            """,
            msisdn,
            holder,
            reason,
            at,
        )
        assert row is not None
        return Hold(**dict(row))

    async def release(self, conn: DbConnection, msisdn: str, holder: str) -> bool:
        """False when this holder did not hold the number (nothing changes)."""
        status = await conn.execute(
            "DELETE FROM record_holds WHERE msisdn = $1 AND holder = $2", msisdn, holder
        )
        return rows_affected(status) > 0

    async def with_prefix(self, conn: DbConnection, prefix: str) -> list[Hold]:
        """Every hold whose holder is `prefix` or starts with `prefix:`, oldest first."""
        rows = await conn.fetch(
            f"""
            SELECT {_HOLD_COLUMNS} FROM record_holds
             WHERE holder = $1 OR starts_with(holder, $1 || ':')
             ORDER BY placed_at, msisdn, holder
            """,
            prefix,
        )
        return [Hold(**dict(r)) for r in rows]

    async def of_user(self, conn: DbConnection, msisdn: str) -> list[Hold]:
        rows = await conn.fetch(
            f"SELECT {_HOLD_COLUMNS} FROM record_holds WHERE msisdn = $1 ORDER BY placed_at, holder", msisdn
        )
        return [Hold(**dict(r)) for r in rows]


class RetentionRepository:
    async def ensure_partitions(self, conn: DbConnection, around: datetime) -> list[str]:
        """Monthly (Asia/Shanghai) partitions of order_records from last month to two months ahead."""
        return await ensure_monthly_partitions(conn, RECORDS_TABLE, "occurred_at", around, tz=SHANGHAI)

    async def lock_holds(self, conn: DbConnection) -> None:
        """Until the caller's transaction ends no hold can be placed, so nothing is removed from a
        user who became held between looking for held users' records and removing the rest."""
        await conn.execute("LOCK TABLE record_holds IN SHARE MODE")

    async def partitions_before(self, conn: DbConnection, cutoff: datetime) -> list[str]:
        """The monthly partitions of order_records that hold nothing from `cutoff` on."""
        partitions, _default = await list_partitions(conn, RECORDS_TABLE)
        return [p.name for p in partitions if p.upper <= cutoff]

    async def partition_holds_held_records(self, conn: DbConnection, partition: str) -> bool:
        held: bool = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {quote_ident(partition)} r WHERE {_held('r.msisdn')})"
        )
        return held

    async def drop_partition(self, conn: DbConnection, partition: str) -> None:
        await drop_partition(conn, partition)

    async def delete_records(self, conn: DbConnection, cutoff: datetime) -> int:
        """Records older than `cutoff` of users not held (the DEFAULT partition's and whatever a
        kept partition has left); partition pruning keeps this to the old partitions."""
        status = await conn.execute(
            f"""
            DELETE FROM order_records r
             WHERE r.occurred_at < $1 AND NOT {_held("r.msisdn")}
            """,
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_charges(self, conn: DbConnection, cutoff: datetime) -> int:
        """Charges older than `cutoff` of users not held. A charge whose refund is younger stays
        until the refund goes too (the refund points at it)."""
        status = await conn.execute(
            f"""
            DELETE FROM charges c
             WHERE c.charged_at < $1
               AND NOT {_held("c.msisdn")}
               AND NOT EXISTS (SELECT 1 FROM charges r WHERE r.refund_of = c.id AND r.charged_at >= $1)
            """,
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_ended_subscriptions(self, conn: DbConnection, cutoff: datetime) -> int:
        """Subscriptions that ended (expired, cancelled, ended) before `cutoff`, of users not held.
        One that a kept charge still points at (a late refund) stays until the charge goes."""
        status = await conn.execute(
            f"""
            DELETE FROM subscriptions s
             WHERE s.status IN ('expired', 'cancelled', 'ended') AND s.ended_at < $1
               AND NOT {_held("s.msisdn")}
               AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.subscription_id = s.id)
            """,
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_refund_requests(self, conn: DbConnection, cutoff: datetime) -> int:
        """Complaints' refund requests handled before `cutoff`, of users not held: no request
        comes again that late (a topic keeps its records days, not months)."""
        status = await conn.execute(
            f"DELETE FROM refund_requests q WHERE q.handled_at < $1 AND NOT {_held('q.msisdn')}",
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)
