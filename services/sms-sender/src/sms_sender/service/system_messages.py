"""System messages other services ask for (sms.send-requests): confirmations, notices, replies,
sent under the provider's own access number."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from uuid import UUID

import asyncpg

from sms_sender import domain
from sms_sender.domain import NewMessage, RejectReason
from sms_sender.repository.messages import MessageRepository
from vas_common.events.sms_requests import SystemMessage
from vas_common.events.sms_sender import Category
from vas_common.outbox import OutboxRepository
from vas_common.smpp.text import count_segments

logger = logging.getLogger(__name__)


class SystemMessages:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        default_access_number: str,
        concat_reference_bits: int = 8,
        messages: MessageRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._default_access_number = default_access_number
        self._reference_bits = concat_reference_bits
        self._messages = messages or MessageRepository()
        self._outbox = outbox or OutboxRepository()

    async def send(self, requests: Sequence[tuple[SystemMessage, Mapping[str, str]]]) -> int:
        """System messages from other services (each with the trace it came with), under the
        provider's own access number, in one transaction. Idempotent: the request id is the
        message id. Returns how many were stored now: not those stored before, nor those to a
        recipient that is not a Chinese mobile number (logged; a retry cannot help)."""
        pending: dict[UUID, tuple[NewMessage, Category, Mapping[str, str]]] = {}
        for request, trace in requests:
            number = domain.normalize_recipient(request.recipient)
            if isinstance(number, RejectReason):
                logger.warning(
                    "system message %s to an invalid recipient dropped: %s", request.request_id, number
                )
                continue
            encoding, segments = count_segments(request.text, self._reference_bits)
            message = NewMessage(
                id=request.request_id,
                accepted_at=request.requested_at,
                partner_id=None,
                recipient=number,
                source_addr=self._default_access_number + (request.ext_code or ""),
                content=request.text,
                category=request.category.value,
                product_code=None,
                client_ref=request.reason,
                callback_url=None,
                notify_submitted=False,
                encoding=encoding.value,
                segments_total=segments,
            )
            pending.setdefault(message.id, (message, request.category, trace))  # the same request twice
        if not pending:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            # A redelivered request takes a reference it will not use: harmless, it is not stored.
            with_refs = await self._messages.with_concat_refs(conn, [m for m, _, _ in pending.values()])
            pending = {m.id: (m, c, t) for m, (_, c, t) in zip(with_refs, pending.values(), strict=True)}
            stored = await self._messages.insert_messages_once(conn, with_refs)
            await self._outbox.enqueue_traced(
                conn,
                [
                    (*domain.submit_record(message, category), trace)
                    for message, category, trace in pending.values()
                    if message.id in stored
                ],
            )
        return len(stored)
