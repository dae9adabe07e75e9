"""What partners read about their messages: one message with its segments, a list, and the status
changes after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from sms_sender.domain import Message
from sms_sender.repository.queries import QueryRepository
from sms_sender.service.errors import InvalidCursor, MessageNotFound
from vas_common.cursors import CursorCipher
from vas_common.cursors import InvalidCursor as InvalidCursorText
from vas_common.events.sms_sender import MessageStatus


@dataclass(frozen=True)
class StatusEventView:
    cursor: str  # opaque: pass it back to get what came after
    occurred_at: datetime
    message_id: UUID
    status: MessageStatus
    body: dict[str, Any]


class StatusQueries:
    def __init__(
        self, pool: asyncpg.Pool, cursors: CursorCipher, queries: QueryRepository | None = None
    ) -> None:
        self._pool = pool
        self._cursors = cursors
        self._queries = queries or QueryRepository()

    async def message(self, partner_id: UUID, message_id: UUID) -> Message:
        async with self._pool.acquire() as conn:
            message = await self._queries.message_with_segments(conn, partner_id, message_id)
        if message is None:
            raise MessageNotFound(f"message {message_id} does not exist")
        return message

    async def messages(
        self, partner_id: UUID, client_ref: str | None, since: datetime | None, limit: int
    ) -> list[Message]:
        async with self._pool.acquire() as conn:
            return await self._queries.list_messages(conn, partner_id, client_ref, since, limit)

    async def status_events(
        self, partner_id: UUID, cursor: str | None, limit: int
    ) -> tuple[list[StatusEventView], str | None]:
        """The partner's status changes after `cursor` (None: from the oldest kept), and the
        cursor to ask with next. Cursors are opaque: row ids would tell the platform's volume."""
        try:
            after = 0 if cursor is None else self._cursors.decode(cursor)
        except InvalidCursorText as exc:
            raise InvalidCursor(f"{cursor!r} is not a cursor from GET /v1/status-events") from exc
        async with self._pool.acquire() as conn:
            stored = await self._queries.status_events_after(conn, partner_id, after, limit)
        events = [
            StatusEventView(
                cursor=self._cursors.encode(e.id),
                occurred_at=e.occurred_at,
                message_id=e.message_id,
                status=e.status,
                body=e.body,
            )
            for e in stored
        ]
        return events, events[-1].cursor if events else cursor
