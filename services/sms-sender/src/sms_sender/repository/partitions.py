"""The month partitions of the records tables."""

from __future__ import annotations

from datetime import UTC, datetime

from vas_common.db import DbConnection, ensure_monthly_partitions

# Each records table and the column it is range-partitioned by, month by month.
PARTITIONED_TABLES = {"messages": "accepted_at", "segments": "accepted_at", "status_events": "occurred_at"}
# A message's status is updated twice after it is written (submitted, then delivered), a
# segment's once: room on each page keeps those updates off the indexes (HOT updates).
UPDATED_IN_PLACE_FILLFACTOR = {"messages": 70, "segments": 80}
# The months of these partitions are UTC months, as they have been from the start: partitions
# by Asia/Shanghai months would overlap the UTC ones that exist. Retention still counts its
# horizon in Asia/Shanghai months and deletes what a straddling partition holds before it.
PARTITION_TZ = UTC


class PartitionRepository:
    async def ensure_partitions(self, conn: DbConnection, around: datetime, months_ahead: int = 2) -> None:
        """Monthly partitions from last month to `months_ahead` ahead (idempotent)."""
        for table, column in PARTITIONED_TABLES.items():
            await ensure_monthly_partitions(
                conn,
                table,
                column,
                around,
                tz=PARTITION_TZ,
                months_ahead=months_ahead,
                fillfactor=UPDATED_IN_PLACE_FILLFACTOR.get(table),
            )
