"""SQL of the sms-sender. Functions take a connection; the service owns transactions."""

from __future__ import annotations

import asyncpg
from vas_common.db import DbConnection
from vas_common.events.subscription import PartnerState


class PartnerCopyRepository:
    async def upsert_if_newer(self, conn: DbConnection, state: PartnerState) -> bool:
        """Store the partner's state unless a newer revision is stored already. True if stored."""
        stored = await conn.fetchval(
            """
            INSERT INTO partners (id, name, status, api_key_sha256, revision, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO UPDATE
               SET name = EXCLUDED.name, status = EXCLUDED.status, api_key_sha256 = EXCLUDED.api_key_sha256,
                   revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at
             WHERE partners.revision < EXCLUDED.revision
            RETURNING true
            """,
            state.partner_id,
            state.name,
            state.status.value,
            state.api_key_sha256,
            state.revision,
            state.updated_at,
        )
        return bool(stored)

    async def find_by_key_hash(self, conn: DbConnection, key_sha256: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await conn.fetchrow(
            "SELECT id, name, status FROM partners WHERE api_key_sha256 = $1", key_sha256
        )
        return row
