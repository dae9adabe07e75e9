"""Who may receive what (subscriptions, opt-outs, product owners) and whose records are held, as
the subscription and complaints services tell it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from vas_common.db import DbConnection


class EligibilityRepository:
    """Who may receive what, as the subscription service tells it (event-carried state)."""

    async def set_product_owner(self, conn: DbConnection, product_code: str, partner_id: UUID) -> None:
        """A product code never changes hands: the first owner heard of stays."""
        await conn.execute(
            "INSERT INTO product_owners (product_code, partner_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            product_code,
            partner_id,
        )

    async def set_subscription(
        self, conn: DbConnection, msisdn: str, product_code: str, active: bool
    ) -> None:
        if active:
            await conn.execute(
                "INSERT INTO active_subscriptions (msisdn, product_code) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                msisdn,
                product_code,
            )
        else:
            await conn.execute(
                "DELETE FROM active_subscriptions WHERE msisdn = $1 AND product_code = $2",
                msisdn,
                product_code,
            )

    async def set_opted_out(self, conn: DbConnection, msisdn: str, opted_out: bool, at: datetime) -> None:
        if opted_out:
            await conn.execute(
                """
                INSERT INTO opt_outs (msisdn, updated_at) VALUES ($1, $2)
                ON CONFLICT (msisdn) DO UPDATE SET updated_at = greatest(opt_outs.updated_at, EXCLUDED.updated_at)
                """,
                msisdn,
                at,
            )
        else:
            await conn.execute("DELETE FROM opt_outs WHERE msisdn = $1 AND updated_at <= $2", msisdn, at)

    async def set_hold(
        self, conn: DbConnection, msisdn: str, holder: str, held: bool, reason: str | None, at: datetime
    ) -> None:
        """This holder now holds the number's records, or no longer does. Idempotent: setting the
        same again changes nothing (a hold keeps its first placed_at), and releasing a hold never
        placed is a no-op. Other holders of the number are untouched."""
        if held:
            await conn.execute(
                """
                INSERT INTO record_holds (msisdn, holder, reason, placed_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (msisdn, holder) DO UPDATE SET reason = coalesce(EXCLUDED.reason, record_holds.reason)
                """,
                msisdn,
                holder,
                reason,
                at,
            )
        else:
            await conn.execute("DELETE FROM record_holds WHERE msisdn = $1 AND holder = $2", msisdn, holder)
