"""The sms-sender's copy of the partners (subscription.events): who may send, with what profile."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from vas_common.db import DbConnection
from vas_common.events.subscription import PartnerState


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
