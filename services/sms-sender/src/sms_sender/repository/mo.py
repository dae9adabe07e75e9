"""User-originated (MO) messages: the parts of a long one, kept until all have come."""

from __future__ import annotations

from dataclasses import dataclass

from vas_common.db import DbConnection


@dataclass(frozen=True)
class MoPart:
    seq: int
    data_coding: int
    payload: bytes


class MoRepository:
    async def add_part(
        self,
        conn: DbConnection,
        msisdn: str,
        destination: str,
        reference: int,
        total: int,
        seq: int,
        data_coding: int,
        payload: bytes,
    ) -> list[MoPart] | None:
        """Store one part; when all parts are in, remove and return them in order."""
        await conn.execute(
            """
            INSERT INTO mo_parts (msisdn, destination, reference, total, seq, data_coding, payload)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
            """,
            msisdn,
            destination,
            reference,
            total,
            seq,
            data_coding,
            payload,
        )
        rows = await conn.fetch(
            """
            SELECT seq, data_coding, payload FROM mo_parts
             WHERE msisdn = $1 AND destination = $2 AND reference = $3 AND total = $4
             ORDER BY seq FOR UPDATE
            """,
            msisdn,
            destination,
            reference,
            total,
        )
        if len(rows) < total:
            return None
        await conn.execute(
            "DELETE FROM mo_parts WHERE msisdn = $1 AND destination = $2 AND reference = $3 AND total = $4",
            msisdn,
            destination,
            reference,
            total,
        )
        return [MoPart(r["seq"], r["data_coding"], r["payload"]) for r in rows]
