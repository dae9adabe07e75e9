"""Message statuses: what recomputing them reads, their updates, and the status history (status
events) with the status relay's cursor over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from sms_sender.domain import MessageKey
from vas_common.db import AdvisoryLock, DbConnection

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
class StoredSegment:
    """A segment as recomputing its message's status reads it."""

    seq: int
    status: str
    smsc_message_id: str | None
    smpp_status: int | None
    receipt_stat: str | None


@dataclass(frozen=True)
class MessageForStatus:
    id: UUID
    accepted_at: datetime
    partner_id: UUID | None
    recipient: str
    status: str
    segments_total: int
    product_code: str | None
    client_ref: str | None
    callback_url: str | None
    notify_submitted: bool
    submitted_at: datetime | None
    segments: list[StoredSegment]


def _message_for_status(row: asyncpg.Record) -> MessageForStatus:
    return MessageForStatus(
        id=row["id"],
        accepted_at=row["accepted_at"],
        partner_id=row["partner_id"],
        recipient=row["recipient"],
        status=row["status"],
        segments_total=row["segments_total"],
        product_code=row["product_code"],
        client_ref=row["client_ref"],
        callback_url=row["callback_url"],
        notify_submitted=row["notify_submitted"],
        submitted_at=row["submitted_at"],
        segments=[
            StoredSegment(*columns)
            for columns in zip(
                row["seqs"] or (),
                row["statuses"] or (),
                row["smsc_ids"] or (),
                row["smpp_statuses"] or (),
                row["receipt_stats"] or (),
                strict=True,
            )
        ],
    )


@dataclass(frozen=True)
class PendingStatusEvent:
    """A status event the relay is to publish: its place in the order, and its Kafka record."""

    xid: object
    id: int
    message_id: UUID
    event: bytes
    trace: dict[str, str]


class StatusRepository:
    async def load_for_status(self, conn: DbConnection, keys: Sequence[MessageKey]) -> list[MessageForStatus]:
        """Messages with their segments' statuses (arrays in seq order), for recomputing message
        status. By (id, accepted_at), so each lookup goes to the one monthly partition that
        holds it; arrays rather than JSON: nothing to build here and parse again in Python."""
        rows = await conn.fetch(
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
        return [_message_for_status(row) for row in rows]

    async def update_statuses(
        self,
        conn: DbConnection,
        changes: Sequence[tuple[UUID, datetime, str, str | None, datetime, str | None]],
    ) -> None:
        """(message id, accepted_at, new status, error, at, outcome): submitted_at / done_at follow
        the status."""
        ordered = sorted(changes, key=lambda change: change[0])  # one lock order: no deadlocks
        await conn.execute(
            """
            UPDATE messages m
               SET status = c.status, error = coalesce(c.error, m.error), updated_at = c.at, outcome = c.outcome,
                   submitted_at = CASE WHEN c.status IN ('submitted', 'delivered')
                                       THEN coalesce(m.submitted_at, c.at) ELSE m.submitted_at END,
                   done_at = CASE WHEN c.status IN ('delivered', 'failed') THEN c.at ELSE m.done_at END
              FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
                   AS c(id, accepted_at, status, error, at, outcome)
             WHERE m.id = c.id AND m.accepted_at = c.accepted_at
            """,
            [c[0] for c in ordered],
            [c[1] for c in ordered],
            [c[2] for c in ordered],
            [c[3] for c in ordered],
            [c[4] for c in ordered],
            [c[5] for c in ordered],
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

    async def status_events_to_publish(
        self, conn: DbConnection, limit: int
    ) -> list[PendingStatusEvent] | None:
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
        rows = await conn.fetch(
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
        return [PendingStatusEvent(r["xid"], r["id"], r["message_id"], r["event"], r["trace"]) for r in rows]

    async def relay_backlog(self, conn: DbConnection, cap: int) -> tuple[int, datetime | None]:
        """Status events of ended transactions the relay has not published yet (counted up to
        `cap`) and when the oldest of them happened (None: there is none). Reads the cursor
        first, as the relay does, so the scan starts at it."""
        cursor = await conn.fetchrow("SELECT xid, id FROM status_relay")
        assert cursor is not None, "migration 006 writes the one row"
        row = await conn.fetchrow(
            """
            SELECT count(*) AS pending, min(occurred_at) AS oldest
              FROM (SELECT occurred_at FROM status_events
                     WHERE xid IS NOT NULL AND (xid, id) > ($1::xid8, $2::bigint)
                     ORDER BY xid, id LIMIT $3) AS capped
            """,
            cursor["xid"],
            cursor["id"],
            cap,
        )
        assert row is not None
        return int(row["pending"]), row["oldest"]

    async def advance_status_relay(self, conn: DbConnection, xid: object, event_id: int) -> None:
        await conn.execute("UPDATE status_relay SET xid = $1, id = $2", xid, event_id)
