"""SQL of the sms-sender. Functions take a connection; the service owns transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from vas_common.db import (
    MAINTENANCE_STATEMENT_TIMEOUT_S,
    AdvisoryLock,
    DbConnection,
    delete_in_batches,
    drop_partition,
    ensure_monthly_partitions,
    list_partitions,
    quote_ident,
    rows_affected,
)
from vas_common.events.subscription import PartnerState

# Each records table and the column it is range-partitioned by, month by month.
PARTITIONED_TABLES = {"messages": "accepted_at", "segments": "accepted_at", "status_events": "occurred_at"}
# A message's status is updated twice after it is written (submitted, then delivered), a
# segment's once: room on each page keeps those updates off the indexes (HOT updates).
UPDATED_IN_PLACE_FILLFACTOR = {"messages": 70, "segments": 80}
# The months of these partitions are UTC months, as they have been from the start: partitions
# by Asia/Shanghai months would overlap the UTC ones that exist. Retention still counts its
# horizon in Asia/Shanghai months and deletes what a straddling partition holds before it.
PARTITION_TZ = UTC


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


@dataclass(frozen=True)
class PartnerProfileRow:
    id: UUID
    name: str
    status: str
    signature: str | None
    signature_placement: str
    access_number: str | None
    rate_limit_per_s: int | None


class PartnerCopyRepository:
    async def upsert_if_newer(self, conn: DbConnection, state: PartnerState) -> bool:
        """Store the partner's state unless a newer revision is stored already. True if stored."""
        stored = await conn.fetchval(
            """
            INSERT INTO partners (id, name, status, api_key_sha256, revision, updated_at,
                                  signature, signature_placement, access_number, rate_limit_per_s)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO UPDATE
               SET name = EXCLUDED.name, status = EXCLUDED.status, api_key_sha256 = EXCLUDED.api_key_sha256,
                   revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at,
                   signature = EXCLUDED.signature, signature_placement = EXCLUDED.signature_placement,
                   access_number = EXCLUDED.access_number, rate_limit_per_s = EXCLUDED.rate_limit_per_s
             WHERE partners.revision < EXCLUDED.revision
            RETURNING true
            """,
            state.partner_id,
            state.name,
            state.status.value,
            state.api_key_sha256,
            state.revision,
            state.updated_at,
            state.signature,
            state.signature_placement.value,
            state.access_number,
            state.rate_limit_per_s,
        )
        return bool(stored)

    async def find_by_key_hash(self, conn: DbConnection, key_sha256: str) -> PartnerProfileRow | None:
        row = await conn.fetchrow(
            """
            SELECT id, name, status, signature, signature_placement, access_number, rate_limit_per_s
              FROM partners WHERE api_key_sha256 = $1
            """,
            key_sha256,
        )
        return PartnerProfileRow(**dict(row)) if row else None


@dataclass(frozen=True)
class NewMessage:
    id: UUID
    accepted_at: datetime
    partner_id: UUID | None
    recipient: str
    source_addr: str
    content: str
    category: str
    product_code: str | None
    client_ref: str | None
    callback_url: str | None
    notify_submitted: bool
    encoding: str
    segments_total: int


@dataclass(frozen=True)
class SegmentOutcome:
    message_id: UUID
    accepted_at: datetime
    seq: int
    status: str
    smsc_message_id: str | None
    smpp_status: int | None
    attempts: int
    at: datetime


# A message's identity in the month-partitioned tables: its id and the month it was accepted in.
MessageKey = tuple[UUID, datetime]


# The status relay LISTENs here; every insert of status events NOTIFYs it.
STATUS_EVENTS_CHANNEL = "vas_status_events"


@dataclass(frozen=True)
class StatusEventRow:
    occurred_at: datetime
    partner_id: UUID | None
    message_id: UUID
    status: str
    body: str  # the payload, JSON, as the pull API returns it
    event: bytes  # the whole event, as published on sms.status
    trace: dict[str, str]


@dataclass(frozen=True)
class ReceiptRow:
    smsc_message_id: str
    stat: str
    err: str
    status: str  # delivered | failed


def _receipt_row(r: asyncpg.Record) -> ReceiptRow:
    stat = r["stat"]
    return ReceiptRow(
        r["smsc_message_id"], stat, r["err"] or "", "delivered" if stat == "DELIVRD" else "failed"
    )


_MESSAGE_COLUMNS = (
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
)


class MessageRepository:
    async def ensure_partitions(self, conn: DbConnection, around: datetime, months_ahead: int = 2) -> None:
        """Monthly partitions from last month to `months_ahead` ahead (idempotent)."""
        for table, column in PARTITIONED_TABLES.items():
            await ensure_monthly_partitions(
                conn,
                table,
                column,
                around,
                tz=PARTITION_TZ,
                months_ahead=months_ahead,
                fillfactor=UPDATED_IN_PLACE_FILLFACTOR.get(table),
            )

    async def insert_messages(self, conn: DbConnection, messages: Sequence[NewMessage]) -> None:
        await conn.copy_records_to_table(
            "messages",
            records=[tuple(getattr(m, c) for c in _MESSAGE_COLUMNS) for m in messages],
            columns=list(_MESSAGE_COLUMNS),
        )

    async def insert_messages_once(self, conn: DbConnection, messages: Sequence[NewMessage]) -> set[UUID]:
        """Insert those not stored already (redelivered requests); returns the ids inserted.
        Ids must be distinct."""
        rows = await conn.fetch(
            f"""
            INSERT INTO messages ({", ".join(_MESSAGE_COLUMNS)})
            SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[],
                                 $13::smallint[])
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            *([getattr(m, column) for m in messages] for column in _MESSAGE_COLUMNS),
        )
        return {r["id"] for r in rows}

    async def send_checks(
        self, conn: DbConnection, requests: Sequence[SendCheck], window: timedelta
    ) -> list[SendChecks]:
        """Everything the send requests must read before they are accepted, for many requests
        in one round trip: the answer stored under each Idempotency-Key, which of its `screen`
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
                ON k.partner_id = r.partner_id AND k.key = r.key AND k.created_at > now() - $7::interval
              LEFT JOIN hits h ON h.n = r.n
             ORDER BY r.n
            """,
            [r.partner_id for r in requests],
            [r.idempotency_key for r in requests],
            [r.product_code for r in requests],
            [r.callback for r in requests],
            [n + 1 for n, _ in screened],  # ORDINALITY counts from 1
            [number for _, number in screened],
            window,
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

    # -- idempotency ---------------------------------------------------------------------

    async def idempotent_response(
        self, conn: DbConnection, partner_id: UUID, key: str, window: timedelta
    ) -> tuple[str, dict[str, Any]] | None:
        [checks] = await self.send_checks(
            conn, [SendCheck(partner_id, key, screen=(), product_code=None, callback=False)], window
        )
        return checks.replay

    async def remember_responses(
        self, conn: DbConnection, answers: Sequence[IdempotentAnswer]
    ) -> set[tuple[UUID, str]]:
        """Store each answer under its key unless the key holds one from the last 24 hours.
        Returns the (partner_id, key) pairs stored; the others were taken first. Keys must be
        distinct (ON CONFLICT cannot touch one row twice in a statement)."""
        rows = await conn.fetch(
            """
            INSERT INTO idempotency_keys (partner_id, key, request_sha256, response)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[])
            ON CONFLICT (partner_id, key) DO UPDATE
               SET request_sha256 = EXCLUDED.request_sha256, response = EXCLUDED.response, created_at = now()
             WHERE idempotency_keys.created_at <= now() - interval '24 hours'
            RETURNING partner_id, key
            """,
            [a.partner_id for a in answers],
            [a.key for a in answers],
            [a.request_sha256 for a in answers],
            [a.response for a in answers],
        )
        return {(r["partner_id"], r["key"]) for r in rows}

    # -- dispatch ------------------------------------------------------------------------

    async def already_submitted(self, conn: DbConnection, message_ids: list[UUID]) -> set[UUID]:
        """Messages whose submit outcome is recorded (a replayed record must not send them again)."""
        rows = await conn.fetch(
            "SELECT DISTINCT message_id FROM segments WHERE message_id = ANY($1::uuid[])", message_ids
        )
        return {r["message_id"] for r in rows}

    async def record_segments(self, conn: DbConnection, outcomes: Sequence[SegmentOutcome]) -> None:
        # One statement over arrays, not executemany: PostgreSQL runs one plan for the batch
        # instead of one per row (the dispatcher's recording is most of the database's work).
        await conn.execute(
            """
            INSERT INTO segments (message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts,
                                  submitted_at, done_at)
            SELECT message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts, at,
                   CASE WHEN status = 'failed' THEN at END
              FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::text[], $5::text[], $6::int[],
                          $7::int[], $8::timestamptz[])
                   AS o(message_id, accepted_at, seq, status, smsc_message_id, smpp_status, attempts, at)
            ON CONFLICT (message_id, seq, accepted_at) DO NOTHING
            """,
            [o.message_id for o in outcomes],
            [o.accepted_at for o in outcomes],
            [o.seq for o in outcomes],
            [o.status for o in outcomes],
            [o.smsc_message_id for o in outcomes],
            [o.smpp_status for o in outcomes],
            [o.attempts for o in outcomes],
            [o.at for o in outcomes],
        )

    async def take_early_receipts(self, conn: DbConnection, smsc_ids: list[str]) -> list[ReceiptRow]:
        rows = await conn.fetch(
            "DELETE FROM early_receipts WHERE smsc_message_id = ANY($1::text[]) RETURNING smsc_message_id, stat, err",
            smsc_ids,
        )
        return [_receipt_row(r) for r in rows]

    async def take_resolvable_early_receipts(self, conn: DbConnection) -> list[ReceiptRow]:
        # receipts for ids we never recorded (an unanswered submit that we sent again) expire
        await conn.execute("DELETE FROM early_receipts WHERE received_at < now() - interval '1 day'")
        rows = await conn.fetch(
            """
            DELETE FROM early_receipts e USING segments s
             WHERE s.smsc_message_id = e.smsc_message_id
            RETURNING e.smsc_message_id, e.stat, e.err
            """
        )
        return [_receipt_row(r) for r in rows]

    async def apply_receipts(
        self, conn: DbConnection, receipts: Sequence[ReceiptRow], at: datetime
    ) -> set[MessageKey]:
        """Mark segments by SMSC id; keep receipts that match nothing yet. Returns affected message ids."""
        if not receipts:
            return set()
        rows = await conn.fetch(
            """
            UPDATE segments s
               SET status = r.status, receipt_stat = r.stat, done_at = $5
              FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(smsc_id, stat, err, status)
             WHERE s.smsc_message_id = r.smsc_id AND s.status = 'submitted'
            RETURNING s.message_id, s.accepted_at, s.smsc_message_id
            """,
            [r.smsc_message_id for r in receipts],
            [r.stat for r in receipts],
            [r.err for r in receipts],
            [r.status for r in receipts],
            at,
        )
        # Whatever matched nothing is kept: its segment may be committed a moment from now (a
        # receipt can overtake our own record of the submit_sm_resp). The sweeper applies it
        # then, or drops it if it was a duplicate of a receipt applied already.
        matched = {r["smsc_message_id"] for r in rows}
        early = [r for r in receipts if r.smsc_message_id not in matched]
        if early:
            await conn.execute(
                """
                INSERT INTO early_receipts (smsc_message_id, stat, err)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                """,
                [r.smsc_message_id for r in early],
                [r.stat for r in early],
                [r.err for r in early],
            )
        return {(r["message_id"], r["accepted_at"]) for r in rows}

    async def load_for_status(self, conn: DbConnection, keys: Sequence[MessageKey]) -> list[asyncpg.Record]:
        """Messages with their segments' statuses (arrays in seq order), for recomputing message
        status. By (id, accepted_at), so each lookup goes to the one monthly partition that
        holds it; arrays rather than JSON: nothing to build here and parse again in Python."""
        return list(
            await conn.fetch(
                """
                SELECT m.id, m.accepted_at, m.partner_id, m.recipient, m.status, m.segments_total,
                       m.product_code, m.client_ref, m.callback_url, m.notify_submitted, m.submitted_at,
                       m.done_at, m.error, s.seqs, s.statuses, s.smsc_ids, s.smpp_statuses, s.receipt_stats
                  FROM unnest($1::uuid[], $2::timestamptz[]) AS k(id, accepted_at)
                  JOIN messages m ON m.id = k.id AND m.accepted_at = k.accepted_at
                 CROSS JOIN LATERAL (
                       SELECT array_agg(seq ORDER BY seq) AS seqs,
                              array_agg(status ORDER BY seq) AS statuses,
                              array_agg(smsc_message_id ORDER BY seq) AS smsc_ids,
                              array_agg(smpp_status ORDER BY seq) AS smpp_statuses,
                              array_agg(receipt_stat ORDER BY seq) AS receipt_stats
                         FROM segments
                        WHERE message_id = m.id AND accepted_at = m.accepted_at
                       ) AS s
                """,
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        )

    async def update_statuses(
        self, conn: DbConnection, changes: Sequence[tuple[UUID, datetime, str, str | None, datetime]]
    ) -> None:
        """(message id, accepted_at, new status, error, at): submitted_at / done_at follow the status."""
        ordered = sorted(changes, key=lambda change: change[0])  # one lock order: no deadlocks
        await conn.execute(
            """
            UPDATE messages m
               SET status = c.status, error = coalesce(c.error, m.error), updated_at = c.at,
                   submitted_at = CASE WHEN c.status IN ('submitted', 'delivered')
                                       THEN coalesce(m.submitted_at, c.at) ELSE m.submitted_at END,
                   done_at = CASE WHEN c.status IN ('delivered', 'failed') THEN c.at ELSE m.done_at END
              FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[])
                   AS c(id, accepted_at, status, error, at)
             WHERE m.id = c.id AND m.accepted_at = c.accepted_at
            """,
            [c[0] for c in ordered],
            [c[1] for c in ordered],
            [c[2] for c in ordered],
            [c[3] for c in ordered],
            [c[4] for c in ordered],
        )

    async def insert_status_events(self, conn: DbConnection, rows: Sequence[StatusEventRow]) -> None:
        """Bodies come as JSON text (pydantic writes it in Rust; a dict would be dumped again
        here). Each row also carries its Kafka record (`event`, `trace`): the status relay
        publishes it once this transaction has ended, in (xid, id) order."""
        await conn.execute(
            """
            WITH added AS (
                INSERT INTO status_events (occurred_at, partner_id, message_id, status, body, xid, event, trace)
                SELECT o, p, m, s, b::jsonb, pg_current_xact_id(), e, t
                  FROM unnest($1::timestamptz[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[],
                              $7::jsonb[]) WITH ORDINALITY AS u(o, p, m, s, b, e, t, n)
                 ORDER BY n
                RETURNING 1
            )
            SELECT pg_notify($8, '') FROM (SELECT count(*) FROM added) AS done
            """,
            [r.occurred_at for r in rows],
            [r.partner_id for r in rows],
            [r.message_id for r in rows],
            [r.status for r in rows],
            [r.body for r in rows],
            [r.event for r in rows],
            [r.trace for r in rows],
            STATUS_EVENTS_CHANNEL,
        )

    async def status_events_to_publish(self, conn: DbConnection, limit: int) -> list[asyncpg.Record] | None:
        """Inside a transaction: the next status events to publish, after the relay's cursor, of
        transactions that have ended (every xid below the snapshot's xmin has); None while
        another relay holds the lock."""
        locked = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", int(AdvisoryLock.STATUS_RELAY))
        if not locked:
            return None
        # The cursor goes in as constants, read under the lock: taken from a join it was only a
        # filter, and every poll walked the index over everything published before.
        cursor = await conn.fetchrow("SELECT xid, id FROM status_relay")
        assert cursor is not None, "migration 006 writes the one row"
        return list(
            await conn.fetch(
                """
                SELECT xid, id, message_id, event, trace FROM status_events
                 WHERE xid IS NOT NULL AND (xid, id) > ($1::xid8, $2::bigint)
                   AND xid < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY xid, id
                 LIMIT $3
                """,
                cursor["xid"],
                cursor["id"],
                limit,
            )
        )

    async def advance_status_relay(self, conn: DbConnection, xid: object, event_id: int) -> None:
        await conn.execute("UPDATE status_relay SET xid = $1, id = $2", xid, event_id)

    async def get_message(
        self, conn: DbConnection, partner_id: UUID, message_id: UUID
    ) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "SELECT * FROM messages WHERE id = $1 AND partner_id = $2", message_id, partner_id
        )

    async def segments_of(
        self, conn: DbConnection, message_id: UUID, accepted_at: datetime
    ) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                "SELECT * FROM segments WHERE message_id = $1 AND accepted_at = $2 ORDER BY seq",
                message_id,
                accepted_at,
            )
        )

    async def list_messages(
        self, conn: DbConnection, partner_id: UUID, client_ref: str | None, since: datetime | None, limit: int
    ) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """
                SELECT * FROM messages
                 WHERE partner_id = $1 AND ($2::text IS NULL OR client_ref = $2)
                   AND ($3::timestamptz IS NULL OR accepted_at >= $3)
                 ORDER BY accepted_at, id LIMIT $4
                """,
                partner_id,
                client_ref,
                since,
                limit,
            )
        )

    async def service_key(self, conn: DbConnection, name: str) -> bytes:
        key: bytes | None = await conn.fetchval("SELECT value FROM service_keys WHERE name = $1", name)
        if key is None:
            raise LookupError(f"no service key {name!r}: are the migrations applied?")
        return key

    async def status_events_after(
        self, conn: DbConnection, partner_id: UUID, cursor: int, limit: int
    ) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """
                SELECT id, occurred_at, message_id, status, body FROM status_events
                 WHERE partner_id = $1 AND id > $2 ORDER BY id LIMIT $3
                """,
                partner_id,
                cursor,
                limit,
            )
        )


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


# Whether a row of each records table belongs to a user held by anyone (alias t).
_HELD_THROUGH_MESSAGE = "EXISTS (SELECT 1 FROM messages m JOIN record_holds h ON h.msisdn = m.recipient WHERE m.id = t.message_id)"
_HELD = {
    "messages": "EXISTS (SELECT 1 FROM record_holds h WHERE h.msisdn = t.recipient)",
    "segments": (
        "EXISTS (SELECT 1 FROM messages m JOIN record_holds h ON h.msisdn = m.recipient"
        " WHERE m.id = t.message_id AND m.accepted_at = t.accepted_at)"
    ),
    "status_events": _HELD_THROUGH_MESSAGE,
    "callback_deliveries": _HELD_THROUGH_MESSAGE,
}


class RetentionRepository:
    """Removing records older than the retention horizon except those of held users (a legal hold
    or a complaint's dispute hold on the recipient of the message, or of the message a segment or
    status event belongs to)."""

    async def lock_holds(self, conn: DbConnection) -> None:
        """Until the caller's transaction ends no hold can be stored, so nothing is removed from a
        user who became held between looking for held users' rows and removing the rest."""
        await conn.execute("LOCK TABLE record_holds IN SHARE MODE")

    async def partitions_before(self, conn: DbConnection, table: str, cutoff: datetime) -> list[str]:
        """The monthly partitions of `table` that hold nothing from `cutoff` on."""
        partitions, _default = await list_partitions(conn, table)
        return [p.name for p in partitions if p.upper <= cutoff]

    async def partition_holds_held_rows(self, conn: DbConnection, table: str, partition: str) -> bool:
        held: bool = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {quote_ident(partition)} t WHERE {_HELD[table]})"
        )
        return held

    async def drop_partition(self, conn: DbConnection, partition: str) -> None:
        await drop_partition(conn, partition)

    async def delete_older(self, conn: DbConnection, table: str, cutoff: datetime) -> int:
        """Rows of `table` older than `cutoff`, held users' excepted; partition pruning keeps this
        to the old partitions and the DEFAULT one."""
        status = await conn.execute(
            f"DELETE FROM {quote_ident(table)} t WHERE t.{quote_ident(PARTITIONED_TABLES[table])} < $1"
            f" AND NOT {_HELD[table]}",
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_old_callbacks(self, conn: DbConnection, cutoff: datetime) -> int:
        """Callback deliveries (delivered, dead or still pending) made before `cutoff`, held
        users' excepted: they are records of what a partner was told, kept as long as the rest."""
        status = await conn.execute(
            f"DELETE FROM callback_deliveries t WHERE t.created_at < $1 AND NOT {_HELD['callback_deliveries']}",
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_expired_idempotency_keys(self, conn: DbConnection, before: datetime, batch: int) -> int:
        """Keys stored before `before`, oldest first, `batch` rows a statement."""
        return await delete_in_batches(
            conn,
            """
            DELETE FROM idempotency_keys
             WHERE (partner_id, key) IN (SELECT partner_id, key FROM idempotency_keys
                                          WHERE created_at < $1 ORDER BY created_at LIMIT $2)
            """,
            before,
            batch=batch,
        )


class CallbackRepository:
    async def set_secret(self, conn: DbConnection, partner_id: UUID, secret: str) -> None:
        await conn.execute(
            """
            INSERT INTO callback_secrets (partner_id, secret) VALUES ($1, $2)
            ON CONFLICT (partner_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()
            """,
            partner_id,
            secret,
        )

    async def enqueue(
        self, conn: DbConnection, rows: Sequence[tuple[UUID, UUID, UUID, str, dict[str, Any]]]
    ) -> None:
        """(event id, partner id, message id, url, body)."""
        await conn.executemany(
            """
            INSERT INTO callback_deliveries (event_id, partner_id, message_id, url, body)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING
            """,
            rows,
        )

    async def claim_due(
        self,
        conn: DbConnection,
        limit: int,
        lease: timedelta,
        partner_cap: int,
        partners_in_flight: Mapping[UUID, int],
    ) -> list[asyncpg.Record]:
        """Take up to `limit` due deliveries, earliest first, but of each partner only as many as
        it has free slots (`partner_cap` less what this worker has in flight for it), and push
        their next attempt time out by `lease`, so another worker does not take them while this
        one is calling; a worker that dies lets them come back when the lease ends."""
        return list(
            await conn.fetch(
                """
                WITH RECURSIVE pending_partner AS (
                    (SELECT partner_id FROM callback_deliveries WHERE state = 'pending'
                      ORDER BY partner_id LIMIT 1)
                    UNION ALL
                    SELECT (SELECT c.partner_id FROM callback_deliveries c
                             WHERE c.state = 'pending' AND c.partner_id > p.partner_id
                             ORDER BY c.partner_id LIMIT 1)
                      FROM pending_partner p WHERE p.partner_id IS NOT NULL
                ),
                room AS (
                    SELECT p.partner_id, $3 - coalesce(busy.in_flight, 0) AS free
                      FROM pending_partner p
                      LEFT JOIN unnest($4::uuid[], $5::int[]) AS busy(partner_id, in_flight)
                        USING (partner_id)
                     WHERE p.partner_id IS NOT NULL
                ),
                due AS (
                    SELECT picked.id FROM room r
                     CROSS JOIN LATERAL (
                        SELECT c.id, c.next_attempt_at FROM callback_deliveries c
                         WHERE c.partner_id = r.partner_id AND c.state = 'pending'
                           AND c.next_attempt_at <= now()
                         ORDER BY c.next_attempt_at LIMIT r.free
                           FOR UPDATE SKIP LOCKED) picked
                     WHERE r.free > 0
                     ORDER BY picked.next_attempt_at LIMIT $1
                )
                UPDATE callback_deliveries d
                   SET next_attempt_at = now() + $2::interval, attempts = d.attempts + 1
                  FROM due
                 WHERE d.id = due.id
                RETURNING d.id, d.event_id, d.partner_id, d.url, d.body, d.attempts, d.created_at,
                          (SELECT secret FROM callback_secrets s WHERE s.partner_id = d.partner_id) AS secret
                """,
                limit,
                lease,
                partner_cap,
                list(partners_in_flight),
                list(partners_in_flight.values()),
            )
        )

    async def mark_delivered(self, conn: DbConnection, delivery_id: int) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET state = 'delivered', delivered_at = now(), last_error = NULL WHERE id = $1",
            delivery_id,
        )

    async def reschedule(self, conn: DbConnection, delivery_id: int, delay: timedelta, error: str) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET next_attempt_at = now() + $2::interval, last_error = $3 WHERE id = $1",
            delivery_id,
            delay,
            error,
        )

    async def postpone(self, conn: DbConnection, delivery_id: int, delay: timedelta, reason: str) -> None:
        """Due again after `delay`, the claim not counted as an attempt (no call was made)."""
        await conn.execute(
            """
            UPDATE callback_deliveries
               SET next_attempt_at = now() + $2::interval, attempts = attempts - 1, last_error = $3
             WHERE id = $1
            """,
            delivery_id,
            delay,
            reason,
        )

    async def mark_dead(self, conn: DbConnection, delivery_id: int, error: str) -> None:
        await conn.execute(
            "UPDATE callback_deliveries SET state = 'dead', last_error = $2 WHERE id = $1", delivery_id, error
        )

    async def dead(self, conn: DbConnection, partner_id: UUID, limit: int) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """
                SELECT event_id, message_id, url, attempts, last_error, created_at, body FROM callback_deliveries
                 WHERE partner_id = $1 AND state = 'dead' ORDER BY id LIMIT $2
                """,
                partner_id,
                limit,
            )
        )

    async def attempts_of(self, conn: DbConnection, message_id: UUID) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                "SELECT state, attempts, last_error FROM callback_deliveries WHERE message_id = $1 ORDER BY id",
                message_id,
            )
        )


class MoRepository:
    async def add_part(
        self,
        conn: DbConnection,
        msisdn: str,
        destination: str,
        reference: int,
        total: int,
        seq: int,
        data_coding: int,
        payload: bytes,
    ) -> list[asyncpg.Record] | None:
        """Store one part; when all parts are in, remove and return them in order."""
        await conn.execute(
            """
            INSERT INTO mo_parts (msisdn, destination, reference, total, seq, data_coding, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
            """,
            msisdn,
            destination,
            reference,
            total,
            seq,
            data_coding,
            payload,
        )
        rows = await conn.fetch(
            """
            SELECT seq, data_coding, payload FROM mo_parts
             WHERE msisdn = $1 AND destination = $2 AND reference = $3 AND total = $4
             ORDER BY seq FOR UPDATE
            """,
            msisdn,
            destination,
            reference,
            total,
        )
        if len(rows) < total:
            return None
        await conn.execute(
            "DELETE FROM mo_parts WHERE msisdn = $1 AND destination = $2 AND reference = $3 AND total = $4",
            msisdn,
            destination,
            reference,
            total,
        )
        return list(rows)
