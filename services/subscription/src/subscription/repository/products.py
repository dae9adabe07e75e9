"""Product SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from subscription.domain import BillingType, CatalogueEntry, Product, ProductStatus
from vas_common.db import DbConnection

_COLUMNS = (
    "id, partner_id, code, name, billing_type, price_fen, description, availability, how_to_cancel, "
    "charge_rule, fault_hotline, consult_hotline, first_month, last_month, status, discontinue_at, "
    "created_at, updated_at"
)


def _product(row: asyncpg.Record | dict[str, Any]) -> Product:
    values = dict(row)
    values["billing_type"] = BillingType(values["billing_type"])
    values["status"] = ProductStatus(values["status"])
    return Product(**values)


class ProductCodeTaken(Exception):
    pass


class ProductRepository:
    async def insert(self, conn: DbConnection, p: Product) -> None:
        try:
            await conn.execute(
                f"INSERT INTO products ({_COLUMNS}) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                p.id,
                p.partner_id,
                p.code,
                p.name,
                p.billing_type.value,
                p.price_fen,
                p.description,
                p.availability,
                p.how_to_cancel,
                p.charge_rule,
                p.fault_hotline,
                p.consult_hotline,
                p.first_month,
                p.last_month,
                p.status.value,
                p.discontinue_at,
                p.created_at,
                p.updated_at,
            )
        except asyncpg.UniqueViolationError as exc:
            raise ProductCodeTaken(p.code) from exc

    async def get(self, conn: DbConnection, product_id: UUID, *, for_update: bool = False) -> Product | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE id = $1{lock}", product_id)
        return _product(row) if row else None

    async def by_code(self, conn: DbConnection, code: str) -> Product | None:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE code = $1", code.upper())
        return _product(row) if row else None

    async def set_status(
        self,
        conn: DbConnection,
        product_id: UUID,
        status: ProductStatus,
        at: datetime,
        discontinue_at: datetime | None = None,
    ) -> None:
        await conn.execute(
            "UPDATE products SET status = $2, updated_at = $3, discontinue_at = coalesce($4, discontinue_at) WHERE id = $1",
            product_id,
            status.value,
            at,
            discontinue_at,
        )

    async def catalogue(self, conn: DbConnection) -> list[CatalogueEntry]:
        """The products on sale, each with its provider's name, in one query."""
        columns = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await conn.fetch(
            f"SELECT {columns}, partners.name AS provider FROM products p "
            "JOIN partners ON partners.id = p.partner_id "
            "WHERE p.status IN ('published', 'discontinuing') ORDER BY p.code"
        )
        return [
            CatalogueEntry(_product({k: v for k, v in r.items() if k != "provider"}), r["provider"])
            for r in rows
        ]

    async def of_partner(self, conn: DbConnection, partner_id: UUID) -> list[Product]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM products WHERE partner_id = $1 ORDER BY code", partner_id
        )
        return [_product(r) for r in rows]
