"""Service quality SQL of the orders, unsubscriptions, satisfaction replies and records kept: rows
per user action (thousands a day), keyed so a copy of an event changes nothing; numbers only as
keyed hashes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from incident.quality.domain import (
    ReportedRecords,
)
from vas_common.db import DbConnection, delete_in_batches
from vas_common.events.subscription import SYSTEM_FAILURES


class OrderRepository:
    """Orders, unsubscriptions and what reached users after them (migration 011), the
    satisfaction replies (012), and the reads of the report's later promises and the SERVQUAL
    view. Rows are written in the order the events came (one partition: one user's events)."""

    async def msisdn_key(self, conn: DbConnection) -> bytes:
        key: bytes | None = await conn.fetchval(
            "SELECT value FROM service_keys WHERE name = 'quality_msisdn_hash'"
        )
        if key is None:
            raise LookupError("no service key 'quality_msisdn_hash': are the migrations applied?")
        return key

    # -- orders ------------------------------------------------------------------------------

    async def order_change(
        self,
        conn: DbConnection,
        kind: str,
        subscription_id: UUID,
        msisdn_hash: bytes,
        product: str,
        at: datetime,
        answered: bool | None = None,
        reason: str | None = None,
    ) -> None:
        """Note what an event says about an order; a first outcome is kept (a later cancellation
        of a confirmed order does not make it withdrawn), a confirmation always wins. `answered`
        and `reason` (of an expiry): whether its user had answered while it waited, and why it
        expired; the first said of each is kept."""
        outcome = {
            "confirmed": "confirmed",
            "expired": "expired",
            "cancelled": "withdrawn",
            "ended": "withdrawn",
        }
        if kind == "requested":
            await conn.execute(
                """
                INSERT INTO quality_orders AS o (subscription_id, msisdn_hash, product_code, requested_at)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (subscription_id) DO UPDATE SET requested_at = coalesce(o.requested_at, $4)
                """,
                subscription_id,
                msisdn_hash,
                product,
                at,
            )
            return
        if kind not in outcome:
            return
        await conn.execute(
            """
            INSERT INTO quality_orders AS o (subscription_id, msisdn_hash, product_code, outcome,
                                             confirmed_at, decided_at, answered, expiry_reason)
            VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'confirmed' THEN $5::timestamptz END, $5, $6, $7)
            ON CONFLICT (subscription_id) DO UPDATE
               SET outcome = CASE WHEN $4 = 'confirmed' THEN 'confirmed' ELSE coalesce(o.outcome, $4) END,
                   confirmed_at = coalesce(o.confirmed_at, EXCLUDED.confirmed_at),
                   decided_at = coalesce(o.decided_at, $5),
                   answered = coalesce(o.answered, $6),
                   expiry_reason = coalesce(o.expiry_reason, $7)
            """,
            subscription_id,
            msisdn_hash,
            product,
            outcome[kind],
            at,
            answered if kind == "expired" else None,
            reason if kind == "expired" else None,
        )
        if kind == "cancelled":
            await conn.execute(
                "INSERT INTO quality_cancellations (subscription_id, msisdn_hash, product_code, cancelled_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                subscription_id,
                msisdn_hash,
                product,
                at,
            )

    async def registration(self, conn: DbConnection, start: datetime, end: datetime) -> dict[str, int]:
        """The orders placed in [start, end) by what became of them. An expiry is judged by its
        reason; one whose event did not say it, by `answered` as before (true: answer_unmatched,
        failed; false: never answered); one that said neither is expired_unknown. `failed` is
        the failed orders of every reason (one a newer producer gives that is not known here
        too: only never_answered is not a failure); `failed_<reason>` each known reason's
        share of them."""
        row = await conn.fetchrow(
            """
            WITH orders AS (
                SELECT outcome,
                       CASE WHEN outcome <> 'expired' THEN NULL
                            WHEN expiry_reason IS NOT NULL THEN expiry_reason
                            WHEN answered THEN 'answer_unmatched'
                            WHEN NOT answered THEN 'never_answered' END AS reason
                  FROM quality_orders WHERE requested_at >= $1 AND requested_at < $2
            )
            SELECT count(*) AS orders,
                   count(*) FILTER (WHERE outcome = 'confirmed') AS confirmed,
                   count(*) FILTER (WHERE outcome = 'expired') AS expired,
                   count(*) FILTER (WHERE reason <> 'never_answered') AS failed,
                   count(*) FILTER (WHERE reason = 'never_answered') AS never_answered,
                   count(*) FILTER (WHERE outcome = 'expired' AND reason IS NULL) AS expired_unknown,
                   count(*) FILTER (WHERE outcome = 'withdrawn') AS withdrawn,
                   count(*) FILTER (WHERE outcome IS NULL) AS waiting,
                   """
            + ",\n                   ".join(
                f"count(*) FILTER (WHERE reason = '{r.value}') AS failed_{r.value}" for r in SYSTEM_FAILURES
            )
            + """
              FROM orders
            """,
            start,
            end,
        )
        assert row is not None
        return dict(row)

    # -- unsubscription ----------------------------------------------------------------------

    async def add_unsub_requests(self, conn: DbConnection, requests: list[tuple[bytes, datetime]]) -> None:
        if requests:
            await conn.executemany(
                "INSERT INTO quality_unsub_requests (msisdn_hash, received_at) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                sorted(set(requests)),
            )

    async def cancelled_at(self, conn: DbConnection, subscription_id: UUID) -> datetime | None:
        at: datetime | None = await conn.fetchval(
            "SELECT cancelled_at FROM quality_cancellations WHERE subscription_id = $1", subscription_id
        )
        return at

    async def add_violation(
        self, conn: DbConnection, kind: str, ref: UUID, subscription_id: UUID, at: datetime
    ) -> None:
        await conn.execute(
            "INSERT INTO quality_unsub_violations (kind, ref, subscription_id, at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING",
            kind,
            ref,
            subscription_id,
            at,
        )

    async def messages_after_unsubscription(
        self, conn: DbConnection, messages: list[tuple[UUID, bytes, str, datetime]]
    ) -> None:
        """Note each (message id, user, product, accepted at) accepted after the user's latest
        cancellation of that product with no confirmed order of it in between."""
        if not messages:
            return
        await conn.execute(
            """
            INSERT INTO quality_unsub_violations (kind, ref, subscription_id, at)
            SELECT 'message', m.id, c.subscription_id, m.at
              FROM unnest($1::uuid[], $2::bytea[], $3::text[], $4::timestamptz[]) AS m(id, h, p, at)
              JOIN LATERAL (SELECT subscription_id, cancelled_at FROM quality_cancellations c
                             WHERE c.msisdn_hash = m.h AND c.product_code = m.p AND c.cancelled_at < m.at
                             ORDER BY c.cancelled_at DESC LIMIT 1) c ON true
             WHERE NOT EXISTS (SELECT FROM quality_orders o
                                WHERE o.msisdn_hash = m.h AND o.product_code = m.p
                                  AND o.confirmed_at > c.cancelled_at AND o.confirmed_at <= m.at)
            ON CONFLICT DO NOTHING
            """,
            [m[0] for m in messages],
            [m[1] for m in messages],
            [m[2] for m in messages],
            [m[3] for m in messages],
        )

    async def unsubscription(self, conn: DbConnection, start: datetime, end: datetime) -> dict[str, Any]:
        """Cancellations that took effect in [start, end): how many, how many an SMS request of
        the user caused (its latest in the day before, when this is among the first cancellations
        after it), and the time to effect (exact percentiles); what reached users after an
        unsubscription, by kind."""
        row = await conn.fetchrow(
            """
            WITH timed AS (
                SELECT c.subscription_id,
                       extract(epoch FROM c.cancelled_at - r.received_at)::double precision AS seconds
                  FROM quality_cancellations c
                  LEFT JOIN LATERAL (SELECT received_at FROM quality_unsub_requests r
                                      WHERE r.msisdn_hash = c.msisdn_hash AND r.received_at <= c.cancelled_at
                                        AND r.received_at > c.cancelled_at - interval '1 day'
                                      ORDER BY r.received_at DESC LIMIT 1) r
                    -- only the request's own effect: the user's first cancellations after it
                    -- (00000 cancels several at one instant), not a later one by a partner
                    ON NOT EXISTS (SELECT FROM quality_cancellations e
                                    WHERE e.msisdn_hash = c.msisdn_hash AND e.cancelled_at >= r.received_at
                                      AND e.cancelled_at < c.cancelled_at)
                 WHERE c.cancelled_at >= $1 AND c.cancelled_at < $2
            )
            SELECT count(*) AS cancellations,
                   count(seconds) AS by_sms,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) AS p50_s,
                   percentile_disc(0.99) WITHIN GROUP (ORDER BY seconds) AS p99_s,
                   max(seconds) AS max_s
              FROM timed
            """,
            start,
            end,
        )
        after = await conn.fetch(
            "SELECT kind, count(*) AS n FROM quality_unsub_violations WHERE at >= $1 AND at < $2 GROUP BY kind",
            start,
            end,
        )
        assert row is not None
        return {**dict(row), "messages_after": 0, "charges_after": 0} | {
            f"{r['kind']}s_after": r["n"] for r in after
        }

    # -- satisfaction (SERVQUAL gap 5) -------------------------------------------------------

    async def add_satisfaction(self, conn: DbConnection, added: Mapping[tuple[date, int], int]) -> None:
        if added:
            await conn.executemany(
                """
                INSERT INTO quality_satisfaction_days AS s (day, score, replies) VALUES ($1, $2, $3)
                ON CONFLICT (day, score) DO UPDATE SET replies = s.replies + EXCLUDED.replies
                """,
                [(day, score, n) for (day, score), n in sorted(added.items())],
            )

    async def satisfaction(self, conn: DbConnection, first: date, end: date) -> dict[int, int]:
        rows = await conn.fetch(
            "SELECT score, sum(replies)::bigint AS n FROM quality_satisfaction_days"
            " WHERE day >= $1 AND day < $2 GROUP BY score ORDER BY score",
            first,
            end,
        )
        return {r["score"]: r["n"] for r in rows}

    # -- the status page vs what was delivered (SERVQUAL gap 4) ------------------------------

    async def publication(self, conn: DbConnection, start: datetime, end: datetime) -> dict[str, Any]:
        """Incidents whose impact started in [start, end) (not merged, not maintenance): how many,
        how many the status page showed (a public status update), and the time from the impact's
        start to the first public update."""
        row = await conn.fetchrow(
            """
            WITH measured AS (
                SELECT i.id, i.impact_started_at,
                       (SELECT min(t.at) FROM incident_timeline t
                         WHERE t.incident_id = i.id AND t.public) AS published_at
                  FROM incidents i
                 WHERE i.impact_started_at >= $1 AND i.impact_started_at < $2
                   AND i.status <> 'merged' AND i.impact <> 'maintenance'
            )
            SELECT count(*) AS incidents,
                   count(published_at) AS published,
                   percentile_disc(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM published_at - impact_started_at)::double precision
                   ) AS median_delay_s,
                   max(extract(epoch FROM published_at - impact_started_at))::double precision AS max_delay_s
              FROM measured
            """,
            start,
            end,
        )
        assert row is not None
        return dict(row)

    # -- records kept ------------------------------------------------------------------------

    async def oldest_records(self, conn: DbConnection) -> dict[str, datetime | None]:
        """The oldest record present in each of this service's stores of records."""
        row = await conn.fetchrow(
            """
            SELECT (SELECT min(impact_started_at) FROM incidents) AS incidents,
                   (SELECT min(at) FROM incident_timeline) AS incident_timeline,
                   (SELECT min(accepted_at) FROM message_impacts) AS message_impacts,
                   (SELECT min(day)::timestamp AT TIME ZONE 'Asia/Shanghai' FROM quality_delay_days) AS quality_roll_ups
            """
        )
        assert row is not None
        return dict(row)

    async def report_records(
        self, conn: DbConnection, store: str, oldest: datetime, note: str, actor: str, at: datetime
    ) -> None:
        await conn.execute(
            """
            INSERT INTO quality_records_reported (store, oldest_record_at, note, reported_by, reported_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (store) DO UPDATE
               SET oldest_record_at = $2, note = $3, reported_by = $4, reported_at = $5
            """,
            store,
            oldest,
            note,
            actor,
            at,
        )

    async def reported_records(self, conn: DbConnection) -> list[ReportedRecords]:
        rows = await conn.fetch(
            "SELECT store, oldest_record_at, note, reported_by, reported_at FROM quality_records_reported"
            " ORDER BY store"
        )
        return [ReportedRecords(**dict(r)) for r in rows]

    async def delete_user_rows_before(self, conn: DbConnection, before: datetime, batch: int) -> int:
        """The rows per user action older than `before`, `batch` rows a statement (outside a
        transaction): orders by their request (or outcome, for one whose request was not seen),
        unsubscription requests, cancellations and what followed them, scheduled changes' notices."""
        deleted = 0
        for table, key, at in (
            ("quality_orders", "subscription_id", "coalesce(requested_at, decided_at)"),
            ("quality_unsub_requests", "msisdn_hash, received_at", "received_at"),
            ("quality_cancellations", "subscription_id", "cancelled_at"),
            ("quality_unsub_violations", "kind, ref", "at"),
            ("quality_notices", "kind, subject, effective_at", "effective_at"),
        ):
            # (table, key and at are this method's constants, never input)
            deleted += await delete_in_batches(
                conn,
                f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {at} < $1 LIMIT $2)",
                before,
                batch=batch,
            )
        return deleted
