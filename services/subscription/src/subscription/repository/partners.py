"""Partner (CP) SQL. Functions take a connection; the service owns transactions."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from subscription.domain import Partner, SendingProfile
from vas_common.db import AdvisoryLock, DbConnection
from vas_common.events.subscription import PartnerStatus, SignaturePlacement

_PARTNER_COLUMNS = (
    "id, name, status, api_key_id, api_key_sha256, revision, created_at, updated_at, "
    "signature, signature_placement, access_number, rate_limit_per_s"
)


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
        profile=SendingProfile(
            signature=row["signature"],
            signature_placement=SignaturePlacement(row["signature_placement"]),
            access_number=row["access_number"],
            rate_limit_per_s=row["rate_limit_per_s"],
        ),
    )


def _values(p: Partner) -> tuple[object, ...]:
    return (
        p.id,
        p.name,
        p.status.value,
        p.api_key_id,
        p.api_key_sha256,
        p.revision,
        p.created_at,
        p.updated_at,
        p.profile.signature,
        p.profile.signature_placement.value,
        p.profile.access_number,
        p.profile.rate_limit_per_s,
    )


class PartnerNameTaken(Exception):
    pass


class PartnerRepository:
    async def lock_access_numbers(self, conn: DbConnection) -> None:
        """Until the transaction ends: no one else assigns an access number (ranges may not overlap,
        which no index can enforce)."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", int(AdvisoryLock.ACCESS_NUMBERS))

    async def overlapping_access_number(
        self, conn: DbConnection, access_number: str, partner_id: UUID
    ) -> str | None:
        """Another partner's access number that this one is a prefix of, or that is a prefix of
        it (number + extension of one would fall in the range of the other)."""
        found: str | None = await conn.fetchval(
            """
            SELECT access_number FROM partners
             WHERE id <> $2 AND access_number IS NOT NULL
               AND (starts_with($1, access_number) OR starts_with(access_number, $1))
             LIMIT 1
            """,
            access_number,
            partner_id,
        )
        return found

    async def insert(self, conn: DbConnection, partner: Partner) -> None:
        try:
            await conn.execute(
                f"INSERT INTO partners ({_PARTNER_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                *_values(partner),
            )
        except asyncpg.UniqueViolationError as exc:
            raise PartnerNameTaken(partner.name) from exc

    async def update(self, conn: DbConnection, partner: Partner) -> None:
        await conn.execute(
            """
            UPDATE partners
               SET name = $2, status = $3, api_key_id = $4, api_key_sha256 = $5, revision = $6, created_at = $7, updated_at = $8,
                   signature = $9, signature_placement = $10, access_number = $11, rate_limit_per_s = $12
             WHERE id = $1
            """,
            *_values(partner),
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
