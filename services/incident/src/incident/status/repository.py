"""SQL of the status page's own data: the published products and the commitments."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from incident.status.domain import Commitment, PublishedProduct
from vas_common.db import DbConnection

_PRODUCT_COLUMNS = (
    "product_id, product_code, partner_id, listing, published_at, discontinue_at, "
    "discontinue_reason, discontinued_at"
)
_COMMITMENT_COLUMNS = "key, position, topic, title, promise, updated_at, updated_by"


def _product(row: Any) -> PublishedProduct:
    listing = row["listing"]
    return PublishedProduct(
        product_id=row["product_id"],
        product_code=row["product_code"],
        partner_id=row["partner_id"],
        listing=json.loads(listing) if isinstance(listing, str) else dict(listing),
        published_at=row["published_at"],
        discontinue_at=row["discontinue_at"],
        discontinue_reason=row["discontinue_reason"],
        discontinued_at=row["discontinued_at"],
    )


def _commitment(row: Any) -> Commitment:
    return Commitment(**{k: row[k] for k in _COMMITMENT_COLUMNS.split(", ")})


class StatusRepository:
    async def upsert_listing(
        self,
        conn: DbConnection,
        product_id: UUID,
        product_code: str,
        partner_id: UUID,
        listing: dict[str, Any],
        published_at: datetime,
        now: datetime,
    ) -> None:
        """The product's terms; a redelivered announcement changes nothing else."""
        await conn.execute(
            """
            INSERT INTO published_products
                (product_id, product_code, partner_id, listing, published_at, updated_at)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6)
            ON CONFLICT (product_id) DO UPDATE SET listing = EXCLUDED.listing, updated_at = EXCLUDED.updated_at
            """,
            product_id,
            product_code,
            partner_id,
            json.dumps(listing, ensure_ascii=False),
            published_at,
            now,
        )

    async def set_discontinuation(
        self, conn: DbConnection, product_id: UUID, effective_at: datetime, reason: str, now: datetime
    ) -> bool:
        done = await conn.execute(
            """
            UPDATE published_products SET discontinue_at = $2, discontinue_reason = $3, updated_at = $4
             WHERE product_id = $1
            """,
            product_id,
            effective_at,
            reason,
            now,
        )
        return str(done) != "UPDATE 0"

    async def set_discontinued(
        self, conn: DbConnection, product_id: UUID, at: datetime, now: datetime
    ) -> bool:
        done = await conn.execute(
            """
            UPDATE published_products
               SET discontinued_at = coalesce(discontinued_at, $2), updated_at = $3
             WHERE product_id = $1
            """,
            product_id,
            at,
            now,
        )
        return str(done) != "UPDATE 0"

    async def products(self, conn: DbConnection, *, ended_since: datetime) -> list[PublishedProduct]:
        """Products on sale, and those that ended after `ended_since` (still worth a line)."""
        rows = await conn.fetch(
            f"""
            SELECT {_PRODUCT_COLUMNS} FROM published_products
             WHERE discontinued_at IS NULL OR discontinued_at >= $1
             ORDER BY product_code
            """,
            ended_since,
        )
        return [_product(r) for r in rows]

    async def commitments(self, conn: DbConnection) -> list[Commitment]:
        rows = await conn.fetch(f"SELECT {_COMMITMENT_COLUMNS} FROM commitments ORDER BY position, key")
        return [_commitment(r) for r in rows]

    async def update_commitment(
        self, conn: DbConnection, key: str, title: str, promise: str, now: datetime, actor: str
    ) -> Commitment | None:
        row = await conn.fetchrow(
            f"""
            UPDATE commitments SET title = $2, promise = $3, updated_at = $4, updated_by = $5
             WHERE key = $1
            RETURNING {_COMMITMENT_COLUMNS}
            """,
            key,
            title,
            promise,
            now,
            actor,
        )
        return _commitment(row) if row else None
