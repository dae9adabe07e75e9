"""Removing records past the retention horizon, held users' excepted."""

from __future__ import annotations

from datetime import datetime

from sms_sender.repository.partitions import PARTITIONED_TABLES
from vas_common.db import (
    MAINTENANCE_STATEMENT_TIMEOUT_S,
    DbConnection,
    delete_in_batches,
    drop_partition,
    list_partitions,
    quote_ident,
    rows_affected,
)

# Whether a row of each records table belongs to a user held by anyone (alias t).
_HELD_THROUGH_MESSAGE = "EXISTS (SELECT 1 FROM messages m JOIN record_holds h ON h.msisdn = m.recipient WHERE m.id = t.message_id)"
_HELD = {
    "messages": "EXISTS (SELECT 1 FROM record_holds h WHERE h.msisdn = t.recipient)",
    "segments": (
        "EXISTS (SELECT 1 FROM messages m JOIN record_holds h ON h.msisdn = m.recipient"
        " WHERE m.id = t.message_id AND m.accepted_at = t.accepted_at)"
    ),
    "status_events": _HELD_THROUGH_MESSAGE,
    "callback_deliveries": _HELD_THROUGH_MESSAGE,
}


class RetentionRepository:
    """Removing records older than the retention horizon except those of held users (a legal hold
    or a complaint's dispute hold on the recipient of the message, or of the message a segment or
    status event belongs to)."""

    async def lock_holds(self, conn: DbConnection) -> None:
        """Until the caller's transaction ends no hold can be stored, so nothing is removed from a
        user who became held between looking for held users' rows and removing the rest."""
        await conn.execute("LOCK TABLE record_holds IN SHARE MODE")

    async def partitions_before(self, conn: DbConnection, table: str, cutoff: datetime) -> list[str]:
        """The monthly partitions of `table` that hold nothing from `cutoff` on."""
        partitions, _default = await list_partitions(conn, table)
        return [p.name for p in partitions if p.upper <= cutoff]

    async def partition_holds_held_rows(self, conn: DbConnection, table: str, partition: str) -> bool:
        held: bool = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {quote_ident(partition)} t WHERE {_HELD[table]})"
        )
        return held

    async def drop_partition(self, conn: DbConnection, partition: str) -> None:
        await drop_partition(conn, partition)

    async def delete_older(self, conn: DbConnection, table: str, cutoff: datetime) -> int:
        """Rows of `table` older than `cutoff`, held users' excepted; partition pruning keeps this
        to the old partitions and the DEFAULT one."""
        status = await conn.execute(
            f"DELETE FROM {quote_ident(table)} t WHERE t.{quote_ident(PARTITIONED_TABLES[table])} < $1"
            f" AND NOT {_HELD[table]}",
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_old_callbacks(self, conn: DbConnection, cutoff: datetime) -> int:
        """Callback deliveries (delivered, dead or still pending) made before `cutoff`, held
        users' excepted: they are records of what a partner was told, kept as long as the rest."""
        status = await conn.execute(
            f"DELETE FROM callback_deliveries t WHERE t.created_at < $1 AND NOT {_HELD['callback_deliveries']}",
            cutoff,
            timeout=MAINTENANCE_STATEMENT_TIMEOUT_S,
        )
        return rows_affected(status)

    async def delete_idle_concat_refs(self, conn: DbConnection, cutoff: datetime) -> int:
        """Concatenation-reference counters of recipients sent no long message since `cutoff`."""
        status = await conn.execute(
            "DELETE FROM concat_refs WHERE used_at < $1", cutoff, timeout=MAINTENANCE_STATEMENT_TIMEOUT_S
        )
        return rows_affected(status)

    async def delete_expired_idempotency_keys(self, conn: DbConnection, before: datetime, batch: int) -> int:
        """Keys stored before `before`, oldest first, `batch` rows a statement."""
        return await delete_in_batches(
            conn,
            """
            DELETE FROM idempotency_keys
             WHERE (partner_id, key) IN (SELECT partner_id, key FROM idempotency_keys
                                          WHERE created_at < $1 ORDER BY created_at LIMIT $2)
            """,
            before,
            batch=batch,
        )
