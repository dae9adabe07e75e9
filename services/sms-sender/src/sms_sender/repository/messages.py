"""Accepting messages: what a send request reads first (idempotency, opt-outs, subscriptions,
callback secret, product owner) and the messages it writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sms_sender.domain import NewMessage
from vas_common.db import DbConnection


@dataclass(frozen=True)
class SendCheck:
    """What one send request must look up before it is accepted."""

    partner_id: UUID
    idempotency_key: str | None
    screen: Sequence[str]  # recipients whose opt-out (and, with a product, subscription) counts
    product_code: str | None
    callback: bool


@dataclass(frozen=True)
class SendChecks:
    replay: tuple[str, dict[str, Any]] | None  # (request fingerprint, response) stored under the key
    opted_out: set[str]
    subscribed: set[str]
    has_callback_secret: bool
    product_owner: UUID | None  # the partner that owns the request's product_code, if known


@dataclass(frozen=True)
class IdempotentAnswer:
    partner_id: UUID
    key: str
    request_sha256: str
    response: dict[str, Any]


MESSAGE_COLUMNS = (
    "id",
    "accepted_at",
    "partner_id",
    "recipient",
    "source_addr",
    "content",
    "category",
    "product_code",
    "client_ref",
    "callback_url",
    "notify_submitted",
    "encoding",
    "segments_total",
    "concat_ref",
)


class MessageRepository:
    async def allocate_concat_refs(
        self, conn: DbConnection, recipients: Sequence[str], at: datetime
    ) -> list[int]:
        """The next concatenation reference of each recipient, one per entry (a recipient may be
        there more than once: consecutive numbers, in order), 0-65535. One statement; the counter
        rows are locked in recipient order so that concurrent accept transactions cannot
        deadlock, and held until COMMIT: long messages to one recipient accepted at once queue
        there, others do not."""
        if not recipients:
            return []
        rows = await conn.fetch(
            """
            INSERT INTO concat_refs AS c (recipient, next_ref, used_at)
            SELECT recipient, count(*), $2 FROM unnest($1::text[]) AS recipient
             GROUP BY recipient ORDER BY recipient
            ON CONFLICT (recipient) DO UPDATE
               SET next_ref = c.next_ref + excluded.next_ref, used_at = excluded.used_at
            RETURNING recipient, next_ref
            """,
            list(recipients),
            at,
        )
        wanted: dict[str, int] = {}
        for recipient in recipients:
            wanted[recipient] = wanted.get(recipient, 0) + 1
        following = {r["recipient"]: r["next_ref"] - wanted[r["recipient"]] for r in rows}
        refs: list[int] = []
        for recipient in recipients:
            refs.append(following[recipient] % 0x10000)
            following[recipient] += 1
        return refs

    async def with_concat_refs(self, conn: DbConnection, messages: Sequence[NewMessage]) -> list[NewMessage]:
        """The messages, the long ones with their recipients' next concatenation references."""
        long = [i for i, m in enumerate(messages) if m.segments_total > 1]
        if not long:
            return list(messages)
        refs = await self.allocate_concat_refs(
            conn, [messages[i].recipient for i in long], max(messages[i].accepted_at for i in long)
        )
        result = list(messages)
        for i, ref in zip(long, refs, strict=True):
            result[i] = replace(messages[i], concat_ref=ref)
        return result

    async def insert_messages(self, conn: DbConnection, messages: Sequence[NewMessage]) -> None:
        await conn.copy_records_to_table(
            "messages",
            records=[tuple(getattr(m, c) for c in MESSAGE_COLUMNS) for m in messages],
            columns=list(MESSAGE_COLUMNS),
        )

    async def insert_messages_once(self, conn: DbConnection, messages: Sequence[NewMessage]) -> set[UUID]:
        """Insert those not stored already (redelivered requests); returns the ids inserted.
        Ids must be distinct."""
        rows = await conn.fetch(
            f"""
            INSERT INTO messages ({", ".join(MESSAGE_COLUMNS)})
            SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[],
                                 $13::smallint[], $14::integer[])
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            *([getattr(m, column) for m in messages] for column in MESSAGE_COLUMNS),
        )
        return {r["id"] for r in rows}

    async def send_checks(
        self, conn: DbConnection, requests: Sequence[SendCheck], since: datetime
    ) -> list[SendChecks]:
        """Everything the send requests must read before they are accepted, for many requests
        in one round trip: the answer stored under each Idempotency-Key after `since`, which of its `screen`
        numbers opted out or (with a product) are subscribed, and whether its partner has a
        callback secret. One result per request, in order."""
        screened = [(n, number) for n, r in enumerate(requests) for number in r.screen]
        rows = await conn.fetch(
            """
            WITH req AS (
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[])
                       WITH ORDINALITY AS r(partner_id, key, product_code, callback, n)
            ), screen AS (
                SELECT s.n, s.msisdn,
                       EXISTS (SELECT FROM opt_outs o WHERE o.msisdn = s.msisdn) AS opted_out,
                       EXISTS (SELECT FROM active_subscriptions a
                                WHERE a.msisdn = s.msisdn AND a.product_code = r.product_code) AS subscribed
                  FROM unnest($5::bigint[], $6::text[]) AS s(n, msisdn)
                  JOIN req r ON r.n = s.n
            ), hits AS (
                SELECT n, array_agg(msisdn) FILTER (WHERE opted_out) AS opted_out,
                          array_agg(msisdn) FILTER (WHERE subscribed) AS subscribed
                  FROM screen GROUP BY n
            )
            SELECT r.n, k.request_sha256, k.response, h.opted_out, h.subscribed,
                   (r.callback AND EXISTS (SELECT FROM callback_secrets c
                                            WHERE c.partner_id = r.partner_id)) AS has_secret,
                   o.partner_id AS product_owner
              FROM req r
              LEFT JOIN product_owners o ON o.product_code = r.product_code
              LEFT JOIN idempotency_keys k
                ON k.partner_id = r.partner_id AND k.key = r.key AND k.created_at > $7
              LEFT JOIN hits h ON h.n = r.n
             ORDER BY r.n
            """,
            [r.partner_id for r in requests],
            [r.idempotency_key for r in requests],
            [r.product_code for r in requests],
            [r.callback for r in requests],
            [n + 1 for n, _ in screened],  # ORDINALITY counts from 1
            [number for _, number in screened],
            since,
        )
        return [
            SendChecks(
                replay=(row["request_sha256"], row["response"])
                if row["request_sha256"] is not None
                else None,
                opted_out=set(row["opted_out"] or ()),
                subscribed=set(row["subscribed"] or ()),
                has_callback_secret=bool(row["has_secret"]),
                product_owner=row["product_owner"],
            )
            for row in rows
        ]

    async def idempotent_response(
        self, conn: DbConnection, partner_id: UUID, key: str, since: datetime
    ) -> tuple[str, dict[str, Any]] | None:
        [checks] = await self.send_checks(
            conn, [SendCheck(partner_id, key, screen=(), product_code=None, callback=False)], since
        )
        return checks.replay

    async def remember_responses(
        self, conn: DbConnection, answers: Sequence[IdempotentAnswer], at: datetime, since: datetime
    ) -> set[tuple[UUID, str]]:
        """Store each answer under its key, as of `at`, unless the key holds one stored after
        `since`. Returns the (partner_id, key) pairs stored; the others were taken first. Keys
        must be distinct (ON CONFLICT cannot touch one row twice in a statement)."""
        rows = await conn.fetch(
            """
            INSERT INTO idempotency_keys (partner_id, key, request_sha256, response, created_at)
            SELECT *, $5 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])
            ON CONFLICT (partner_id, key) DO UPDATE
               SET request_sha256 = EXCLUDED.request_sha256, response = EXCLUDED.response,
                   created_at = EXCLUDED.created_at
             WHERE idempotency_keys.created_at <= $6
            RETURNING partner_id, key
            """,
            [a.partner_id for a in answers],
            [a.key for a in answers],
            [a.request_sha256 for a in answers],
            [a.response for a in answers],
            at,
            since,
        )
        return {(r["partner_id"], r["key"]) for r in rows}
