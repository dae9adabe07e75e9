"""Subscription SQL, with the MO bookkeeping (0000 menus, handled MO ids)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from subscription.domain import (
    OUTCOMES_BY_STRENGTH,
    BillingType,
    ConfirmationFate,
    Menu,
    MenuPurpose,
    Subscription,
    SubscriptionStatus,
)
from vas_common.db import DbConnection, delete_in_batches
from vas_common.events.sms_sender import MessageOutcome
from vas_common.events.subscription import ExpiryReason

_SELECT = """
SELECT s.id, s.msisdn, s.product_id, p.code AS product_code, p.name AS product_name, p.price_fen,
       p.billing_type, p.partner_id, s.status, s.channel, s.requested_at, s.confirm_by, s.confirmed_at,
       s.ended_at, s.end_channel, s.last_content_at, s.confirmation_request_id, s.confirmation_outcome,
       s.confirmation_outcome_at, s.expiry_reason
  FROM subscriptions s JOIN products p ON p.id = s.product_id
"""


def _subscription(row: asyncpg.Record) -> Subscription:
    values = dict(row)
    values["status"] = SubscriptionStatus(values["status"])
    values["billing_type"] = BillingType(values["billing_type"])
    if values["confirmation_outcome"] is not None:
        values["confirmation_outcome"] = MessageOutcome(values["confirmation_outcome"])
    if values["expiry_reason"] is not None:
        values["expiry_reason"] = ExpiryReason(values["expiry_reason"])
    return Subscription(**values)


class AlreadySubscribed(Exception):
    pass


class SubscriptionRepository:
    async def insert_pending(
        self,
        conn: DbConnection,
        sub_id: UUID,
        msisdn: str,
        product_id: UUID,
        channel: str,
        requested_at: datetime,
        confirm_by: datetime,
        confirmation_request_id: UUID | None = None,
    ) -> None:
        try:
            await conn.execute(
                """
                INSERT INTO subscriptions (id, msisdn, product_id, status, channel, requested_at, confirm_by,
                                           updated_at, confirmation_request_id)
                VALUES ($1, $2, $3, 'pending', $4, $5, $6, $5, $7)
                """,
                sub_id,
                msisdn,
                product_id,
                channel,
                requested_at,
                confirm_by,
                confirmation_request_id,
            )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadySubscribed(msisdn) from exc

    async def get(self, conn: DbConnection, sub_id: UUID) -> Subscription | None:
        row = await conn.fetchrow(_SELECT + " WHERE s.id = $1", sub_id)
        return _subscription(row) if row else None

    async def of_user(
        self, conn: DbConnection, msisdn: str, statuses: Sequence[SubscriptionStatus], *, lock: bool = False
    ) -> list[Subscription]:
        return (await self.of_users(conn, [msisdn], statuses, lock=lock)).get(msisdn, [])

    async def of_users(
        self,
        conn: DbConnection,
        msisdns: Sequence[str],
        statuses: Sequence[SubscriptionStatus],
        *,
        lock: bool = False,
    ) -> dict[str, list[Subscription]]:
        """Each user's subscriptions in these statuses, oldest first; users without any are left out."""
        rows = await conn.fetch(
            _SELECT
            + " WHERE s.msisdn = ANY($1::text[]) AND s.status = ANY($2::text[]) ORDER BY s.msisdn, s.requested_at"
            + (" FOR UPDATE OF s" if lock else ""),
            list(msisdns),
            [s.value for s in statuses],
        )
        found: dict[str, list[Subscription]] = {}
        for row in rows:
            found.setdefault(row["msisdn"], []).append(_subscription(row))
        return found

    async def of_product(
        self, conn: DbConnection, product_id: UUID, statuses: Sequence[SubscriptionStatus]
    ) -> list[Subscription]:
        rows = await conn.fetch(
            _SELECT + " WHERE s.product_id = $1 AND s.status = ANY($2::text[]) ORDER BY s.msisdn",
            product_id,
            [s.value for s in statuses],
        )
        return [_subscription(r) for r in rows]

    async def pending(self, conn: DbConnection, msisdn: str, now: datetime) -> list[Subscription]:
        """The user's orders waiting for a Y (within their 24 h), oldest first, locked."""
        rows = await conn.fetch(
            _SELECT + " WHERE s.msisdn = $1 AND s.status = 'pending' AND s.confirm_by > $2"
            " ORDER BY s.requested_at, s.id FOR UPDATE OF s",
            msisdn,
            now,
        )
        return [_subscription(r) for r in rows]

    async def set_status(
        self,
        conn: DbConnection,
        sub_id: UUID,
        status: SubscriptionStatus,
        at: datetime,
        end_channel: str | None = None,
    ) -> None:
        await conn.execute(
            """
            UPDATE subscriptions
               SET status = $2, updated_at = $3,
                   confirmed_at = CASE WHEN $2 = 'active' AND confirmed_at IS NULL THEN $3 ELSE confirmed_at END,
                   ended_at = CASE WHEN $2 IN ('expired', 'cancelled', 'ended') THEN $3 ELSE ended_at END,
                   end_channel = coalesce($4, end_channel)
             WHERE id = $1
            """,
            sub_id,
            status.value,
            at,
            end_channel,
        )

    async def record_confirmation_fates(self, conn: DbConnection, fates: Sequence[ConfirmationFate]) -> int:
        """The final outcomes of system messages, on the waiting orders whose confirmation SMS
        they are (the rest are other system messages, or orders decided already: nothing). One
        statement; `fates` one per message (domain.strongest_fates). An order keeps the
        strongest outcome seen (domain.ConfirmationFate.stronger, in SQL), so a redelivered or
        reordered status changes nothing it should not. Returns the orders changed."""
        if not fates:
            return 0
        result = await conn.execute(
            """
            UPDATE subscriptions s
               SET confirmation_outcome = u.outcome, confirmation_outcome_at = u.at
              FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(id, outcome, at)
             WHERE s.confirmation_request_id = u.id AND s.status = 'pending'
               AND (s.confirmation_outcome IS NULL
                    OR array_position($4::text[], u.outcome) > array_position($4::text[], s.confirmation_outcome)
                    OR (u.outcome = s.confirmation_outcome AND u.at < s.confirmation_outcome_at))
            """,
            [f.message_id for f in fates],
            [f.outcome.value for f in fates],
            [f.at for f in fates],
            [o.value for o in OUTCOMES_BY_STRENGTH],
        )
        return int(result.split()[-1])

    async def set_expiry_reason(self, conn: DbConnection, sub_id: UUID, reason: ExpiryReason) -> None:
        await conn.execute("UPDATE subscriptions SET expiry_reason = $2 WHERE id = $1", sub_id, reason.value)

    async def due_for_expiry(self, conn: DbConnection, now: datetime, limit: int = 500) -> list[Subscription]:
        rows = await conn.fetch(
            _SELECT + " WHERE s.status = 'pending' AND s.confirm_by <= $1 ORDER BY s.confirm_by LIMIT $2"
            " FOR UPDATE OF s SKIP LOCKED",
            now,
            limit,
        )
        return [_subscription(r) for r in rows]

    async def note_content(
        self, conn: DbConnection, msisdn: str, product_code: str, partner_id: UUID, at: datetime
    ) -> None:
        """The user got this product's content now, if the sender is the product's owner."""
        await conn.execute(
            """
            UPDATE subscriptions s SET last_content_at = greatest(coalesce(s.last_content_at, $4), $4)
              FROM products p
             WHERE p.id = s.product_id AND p.code = $2 AND p.partner_id = $3
               AND s.msisdn = $1 AND s.status = 'active'
            """,
            msisdn,
            product_code,
            partner_id,
            at,
        )

    async def active_with_code(
        self, conn: DbConnection, msisdn: str, product_code: str, partner_id: UUID
    ) -> Subscription | None:
        """The user's active subscription to a product of this partner (none for anyone else's)."""
        row = await conn.fetchrow(
            _SELECT + " WHERE s.msisdn = $1 AND p.code = $2 AND p.partner_id = $3 AND s.status = 'active'",
            msisdn,
            product_code,
            partner_id,
        )
        return _subscription(row) if row else None

    # -- MO bookkeeping ---------------------------------------------------------------------

    async def first_time_seen(self, conn: DbConnection, mo_ids: Sequence[UUID]) -> set[UUID]:
        """Marks the MO as handled; returns those not marked before (a redelivered one is not)."""
        rows = await conn.fetch(
            """
            INSERT INTO processed_mo (mo_id) SELECT DISTINCT unnest($1::uuid[])
            ON CONFLICT DO NOTHING RETURNING mo_id
            """,
            list(mo_ids),
        )
        return {r["mo_id"] for r in rows}

    async def forget_processed_mo(self, conn: DbConnection, before: datetime, batch: int) -> int:
        """MO ids marked handled before `before`, oldest first, `batch` rows a statement."""
        return await delete_in_batches(
            conn,
            """
            DELETE FROM processed_mo
             WHERE mo_id IN (SELECT mo_id FROM processed_mo WHERE processed_at < $1
                              ORDER BY processed_at LIMIT $2)
            """,
            before,
            batch=batch,
        )

    async def save_menus(
        self,
        conn: DbConnection,
        menus: Mapping[str, Sequence[UUID]],
        expires_at: datetime,
        purpose: MenuPurpose = MenuPurpose.CANCEL,
    ) -> None:
        """The numbered list each user was just shown (its subscription ids in order), in one
        statement; it replaces the user's previous one, whatever its purpose."""
        await conn.execute(
            """
            INSERT INTO mo_menus (msisdn, items, expires_at, purpose)
            SELECT m.msisdn,
                   coalesce(array_agg(i.item ORDER BY i.n) FILTER (WHERE i.item IS NOT NULL), '{}'), $4, $5
              FROM unnest($1::text[]) AS m(msisdn)
              LEFT JOIN unnest($2::text[], $3::uuid[]) WITH ORDINALITY AS i(msisdn, item, n)
                ON i.msisdn = m.msisdn
             GROUP BY m.msisdn
            ON CONFLICT (msisdn) DO UPDATE
               SET items = EXCLUDED.items, expires_at = EXCLUDED.expires_at, purpose = EXCLUDED.purpose
            """,
            list(menus),
            [msisdn for msisdn, items in menus.items() for _ in items],
            [item for items in menus.values() for item in items],
            expires_at,
            purpose.value,
        )

    async def menu(self, conn: DbConnection, msisdn: str, now: datetime) -> Menu | None:
        row = await conn.fetchrow(
            "SELECT purpose, items FROM mo_menus WHERE msisdn = $1 AND expires_at > $2", msisdn, now
        )
        return Menu(MenuPurpose(row["purpose"]), list(row["items"])) if row else None
