"""SQL of the subscription service. Functions take a connection; the service owns transactions."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from vas_common.db import DbConnection
from vas_common.events.subscription import PartnerStatus

from subscription.domain import Partner

_PARTNER_COLUMNS = "id, name, status, api_key_id, api_key_sha256, revision, created_at, updated_at"


def _partner(row: asyncpg.Record) -> Partner:
    return Partner(
        id=row["id"],
        name=row["name"],
        status=PartnerStatus(row["status"]),
        api_key_id=row["api_key_id"],
        api_key_sha256=row["api_key_sha256"],
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PartnerNameTaken(Exception):
    pass


class PartnerRepository:
    async def insert(self, conn: DbConnection, partner: Partner) -> None:
        try:
            await conn.execute(
                f"INSERT INTO partners ({_PARTNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                partner.id,
                partner.name,
                partner.status.value,
                partner.api_key_id,
                partner.api_key_sha256,
                partner.revision,
                partner.created_at,
                partner.updated_at,
            )
        except asyncpg.UniqueViolationError as exc:
            raise PartnerNameTaken(partner.name) from exc

    async def update(self, conn: DbConnection, partner: Partner) -> None:
        await conn.execute(
            """
            UPDATE partners SET status = $2, api_key_id = $3, api_key_sha256 = $4, revision = $5, updated_at = $6
            WHERE id = $1
            """,
            partner.id,
            partner.status.value,
            partner.api_key_id,
            partner.api_key_sha256,
            partner.revision,
            partner.updated_at,
        )

    async def get(self, conn: DbConnection, partner_id: UUID, *, for_update: bool = False) -> Partner | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_PARTNER_COLUMNS} FROM partners WHERE id = $1{lock}", partner_id)
        return _partner(row) if row else None

    async def get_by_key_hash(self, conn: DbConnection, key_sha256: str) -> Partner | None:
        row = await conn.fetchrow(
            f"SELECT {_PARTNER_COLUMNS} FROM partners WHERE api_key_sha256 = $1", key_sha256
        )
        return _partner(row) if row else None

    async def list(self, conn: DbConnection, limit: int, after: UUID | None) -> list[Partner]:
        rows = await conn.fetch(
            f"SELECT {_PARTNER_COLUMNS} FROM partners WHERE ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $1",
            limit,
            after,
        )
        return [_partner(r) for r in rows]
