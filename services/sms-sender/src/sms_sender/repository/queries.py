"""What partners read: their messages with their segments, and their status events after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from sms_sender.domain import Message, Segment
from vas_common.db import DbConnection
from vas_common.events.sms_sender import Category, MessageOutcome, MessageStatus

_MESSAGE_COLUMNS = (
    "id, recipient, source_addr, category, product_code, client_ref, status, outcome, error, encoding,"
    " segments_total, accepted_at, submitted_at, done_at"
)
_SEGMENT_COLUMNS = "seq, status, smsc_message_id, smpp_status, receipt_stat, attempts, submitted_at, done_at"


def _message(row: asyncpg.Record, segments: tuple[Segment, ...] = ()) -> Message:
    return Message(
        id=row["id"],
        recipient=row["recipient"],
        source_addr=row["source_addr"],
        category=Category(row["category"]),
        product_code=row["product_code"],
        client_ref=row["client_ref"],
        status=MessageStatus(row["status"]),
        outcome=MessageOutcome(row["outcome"]) if row["outcome"] else None,
        error=row["error"],
        encoding=row["encoding"],
        segments_total=row["segments_total"],
        accepted_at=row["accepted_at"],
        submitted_at=row["submitted_at"],
        done_at=row["done_at"],
        segments=segments,
    )


def _segment(row: asyncpg.Record) -> Segment:
    return Segment(
        seq=row["seq"],
        status=MessageStatus(row["status"]),
        smsc_message_id=row["smsc_message_id"],
        smpp_status=row["smpp_status"],
        receipt_stat=row["receipt_stat"],
        attempts=row["attempts"],
        submitted_at=row["submitted_at"],
        done_at=row["done_at"],
    )


@dataclass(frozen=True)
class StoredStatusEvent:
    id: int  # the cursor, before it is made opaque
    occurred_at: datetime
    message_id: UUID
    status: MessageStatus
    body: dict[str, Any]


class QueryRepository:
    """Reads scoped to one partner: another partner's message is as absent as a missing one."""

    async def message_with_segments(
        self, conn: DbConnection, partner_id: UUID, message_id: UUID
    ) -> Message | None:
        row = await conn.fetchrow(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND partner_id = $2",
            message_id,
            partner_id,
        )
        if row is None:
            return None
        segments = await conn.fetch(
            f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE message_id = $1 AND accepted_at = $2 ORDER BY seq",
            message_id,
            row["accepted_at"],
        )
        return _message(row, tuple(_segment(s) for s in segments))

    async def list_messages(
        self, conn: DbConnection, partner_id: UUID, client_ref: str | None, since: datetime | None, limit: int
    ) -> list[Message]:
        rows = await conn.fetch(
            f"""
            SELECT {_MESSAGE_COLUMNS} FROM messages
             WHERE partner_id = $1 AND ($2::text IS NULL OR client_ref = $2)
               AND ($3::timestamptz IS NULL OR accepted_at >= $3)
             ORDER BY accepted_at, id LIMIT $4
            """,
            partner_id,
            client_ref,
            since,
            limit,
        )
        return [_message(r) for r in rows]

    async def status_events_after(
        self, conn: DbConnection, partner_id: UUID, cursor: int, limit: int
    ) -> list[StoredStatusEvent]:
        rows = await conn.fetch(
            """
            SELECT id, occurred_at, message_id, status, body FROM status_events
             WHERE partner_id = $1 AND id > $2 ORDER BY id LIMIT $3
            """,
            partner_id,
            cursor,
            limit,
        )
        return [
            StoredStatusEvent(
                r["id"], r["occurred_at"], r["message_id"], MessageStatus(r["status"]), r["body"]
            )
            for r in rows
        ]
