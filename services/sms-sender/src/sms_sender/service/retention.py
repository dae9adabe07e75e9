"""Retention of the sms-sender's records: messages, segments, status events and callback
deliveries are kept `retention_months` Asia/Shanghai months, a user's under a legal hold for as
long as the hold (a partner can list its dead callbacks that long). Idempotency keys are kept
for the 24 hours they answer replays."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from sms_sender.repository.partitions import PartitionRepository
from sms_sender.repository.retention import RetentionRepository
from sms_sender.service.accept import IDEMPOTENCY_WINDOW
from vas_common.clock import Clock
from vas_common.db import month_start

logger = logging.getLogger(__name__)

# Months are counted as the provider counts them, in China.
RETENTION_TZ = ZoneInfo("Asia/Shanghai")
# Segments and status events before their messages: whether they are held is seen through them.
RETENTION_ORDER = ("status_events", "segments", "messages")
_KEY_BATCH = 10_000


def retention_cutoff(now: datetime, months: int) -> datetime:
    """The start of the Asia/Shanghai month `months` before the current one: what is older goes,
    so at least `months` whole months are always kept."""
    return month_start(now, RETENTION_TZ, -months)


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    partitions_dropped: list[str]
    rows_deleted: dict[str, int]


class Retention:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        months: int,
        partitions: PartitionRepository | None = None,
        repo: RetentionRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._months = months
        self._partitions = partitions or PartitionRepository()
        self._repo = repo or RetentionRepository()

    async def run(self) -> RetentionResult:
        """Partitions ahead, then what is older than the horizon goes: a monthly partition wholly
        older is dropped when it holds no held user's row, and the rows left older than the
        horizon are deleted but the held users'. Safe to run from several processes at once."""
        now = self._clock.now()
        cutoff = retention_cutoff(now, self._months)
        dropped: list[str] = []
        deleted: dict[str, int] = {}
        async with self._pool.acquire() as conn:
            await self._partitions.ensure_partitions(conn, now)
            for table in RETENTION_ORDER:
                for partition in await self._repo.partitions_before(conn, table, cutoff):
                    # One short transaction per drop: it locks the parent table, which the send path writes.
                    async with conn.transaction():
                        await self._repo.lock_holds(conn)
                        if await self._repo.partition_holds_held_rows(conn, table, partition):
                            continue
                        await self._repo.drop_partition(conn, partition)
                    dropped.append(partition)
            async with conn.transaction():
                await self._repo.lock_holds(conn)
                # Callbacks first: whether one is held is seen through its message.
                deleted["callback_deliveries"] = await self._repo.delete_old_callbacks(conn, cutoff)
                for table in RETENTION_ORDER:
                    deleted[table] = await self._repo.delete_older(conn, table, cutoff)
            deleted["concat_refs"] = await self._repo.delete_idle_concat_refs(conn, cutoff)
            deleted["idempotency_keys"] = await self._repo.delete_expired_idempotency_keys(
                conn, now - IDEMPOTENCY_WINDOW, _KEY_BATCH
            )
        logger.info(
            "retention: records before %s removed; partitions dropped %s, rows deleted %s",
            cutoff.isoformat(),
            dropped or "none",
            deleted,
        )
        return RetentionResult(cutoff, dropped, deleted)
