"""The partner's side of status callbacks: its signing secret and the callbacks given up on."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from sms_sender.domain import DeadCallback, new_callback_secret
from sms_sender.repository.callbacks import CallbackRepository


class CallbackSecrets:
    def __init__(self, pool: asyncpg.Pool, callbacks: CallbackRepository | None = None) -> None:
        self._pool = pool
        self._callbacks = callbacks or CallbackRepository()

    async def rotate(self, partner_id: UUID) -> str:
        secret = new_callback_secret()
        async with self._pool.acquire() as conn:
            await self._callbacks.set_secret(conn, partner_id, secret)
        return secret

    async def dead(self, partner_id: UUID, limit: int) -> list[DeadCallback]:
        async with self._pool.acquire() as conn:
            return await self._callbacks.dead(conn, partner_id, limit)
