"""Service quality SQL: the consumers' watermarks and the per-minute (and per-day) roll-ups.

Rows are locked in one order (watermark, then delay minutes, delay days, traffic, each sorted by
key), so the partitions' consumers adding to the same minute never deadlock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import asyncpg

from incident.quality.domain import (
    ClockRunRow,
    Histogram,
    NoticeCount,
    NoticeGiven,
    PartnerName,
)
from vas_common.db import DbConnection, delete_in_batches

_DELAY_TABLES: Final = {"minute": "quality_delay_minutes", "day": "quality_delay_days"}
_HIST_COLUMNS = "messages, within_target, sum_delay_s, max_delay_s, bucket_keys, bucket_counts"


class QualityRepository:
    # -- watermarks ----------------------------------------------------------------------

    async def claim(self, conn: DbConnection, group_id: str, topic: str, partition: int) -> int:
        """The partition's next offset not yet counted, locked until the transaction ends (a
        second consumer of the same partition, during a rebalance, waits and then sees the
        records counted)."""
        await conn.execute(
            "INSERT INTO quality_offsets (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0)"
            " ON CONFLICT DO NOTHING",
            group_id,
            topic,
            partition,
        )
        offset: int = await conn.fetchval(
            "SELECT next_offset FROM quality_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3"
            " FOR UPDATE",
            group_id,
            topic,
            partition,
        )
        return offset

    async def advance(
        self, conn: DbConnection, group_id: str, topic: str, partition: int, next_offset: int
    ) -> None:
        await conn.execute(
            "UPDATE quality_offsets SET next_offset = greatest(next_offset, $4)"
            " WHERE group_id = $1 AND topic = $2 AND partition = $3",
            group_id,
            topic,
            partition,
            next_offset,
        )

    # -- delay histograms ----------------------------------------------------------------

    async def add_delays(
        self,
        conn: DbConnection,
        grain: str,
        added: Mapping[tuple[datetime, UUID], Histogram] | Mapping[tuple[date, UUID], Histogram],
    ) -> None:
        """Merge the histograms into the rows of `grain` ("minute" or "day"): rows made when
        missing, then locked in key order, merged here and written back."""
        if not added:
            return
        table, column = _DELAY_TABLES[grain], grain
        keys = sorted(added)
        times = [k[0] for k in keys]
        partners = [k[1] for k in keys]
        cast = "timestamptz" if grain == "minute" else "date"
        await conn.execute(
            f"""
            INSERT INTO {table} ({column}, partner_id, {_HIST_COLUMNS})
            SELECT t, p, 0, 0, 0, 0, '{{}}', '{{}}'
              FROM unnest($1::{cast}[], $2::uuid[]) WITH ORDINALITY AS u(t, p, n) ORDER BY n
            ON CONFLICT DO NOTHING
            """,
            times,
            partners,
        )
        rows = await conn.fetch(
            f"""
            SELECT r.{column} AS at, r.partner_id, {", ".join("r." + c for c in _HIST_COLUMNS.split(", "))}
              FROM {table} r JOIN unnest($1::{cast}[], $2::uuid[]) AS u(t, p)
                ON r.{column} = u.t AND r.partner_id = u.p
             ORDER BY r.{column}, r.partner_id
               FOR UPDATE OF r
            """,
            times,
            partners,
        )
        merged: list[tuple[object, ...]] = []
        for row in rows:
            h = _histogram(row)
            h.merge(added[(row["at"], row["partner_id"])])
            bucket_keys, bucket_counts = h.buckets()
            merged.append(
                (
                    row["at"],
                    row["partner_id"],
                    h.messages,
                    h.within_target,
                    h.sum_s,
                    h.max_s,
                    bucket_keys,
                    bucket_counts,
                )
            )
        await conn.executemany(
            f"""
            UPDATE {table}
               SET messages = $3, within_target = $4, sum_delay_s = $5, max_delay_s = $6,
                   bucket_keys = $7, bucket_counts = $8
             WHERE {column} = $1 AND partner_id = $2
            """,
            merged,
        )

    async def delay_days(
        self, conn: DbConnection, first: date, end: date
    ) -> list[tuple[date, UUID, Histogram]]:
        return await _delay_rows(conn, "quality_delay_days", "day", first, end)

    async def delay_minutes(
        self, conn: DbConnection, start: datetime, end: datetime
    ) -> list[tuple[datetime, UUID, Histogram]]:
        return await _delay_rows(conn, "quality_delay_minutes", "minute", start, end)

    async def delete_minutes_before(self, conn: DbConnection, before: datetime, batch: int) -> int:
        """Per-minute delay rows older than `before`, `batch` rows a statement (outside a
        transaction); the day rows and the traffic per minute stay."""
        return await delete_in_batches(
            conn,
            """
            DELETE FROM quality_delay_minutes
             WHERE (minute, partner_id) IN (SELECT minute, partner_id FROM quality_delay_minutes
                                             WHERE minute < $1 ORDER BY minute LIMIT $2)
            """,
            before,
            batch=batch,
        )

    # -- notices of scheduled changes ------------------------------------------------------

    async def add_notices(self, conn: DbConnection, notices: Sequence[NoticeGiven]) -> None:
        if notices:
            await conn.executemany(
                "INSERT INTO quality_notices (kind, subject, noticed_at, effective_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                sorted(set(notices)),
            )

    async def notices(
        self, conn: DbConnection, start: datetime, end: datetime, required: Mapping[str, timedelta]
    ) -> dict[str, NoticeCount]:
        """Per kind, the changes taking effect in [start, end) and those noticed at least
        `required[kind]` before."""
        rows = await conn.fetch(
            """
            SELECT n.kind, count(*) AS given,
                   count(*) FILTER (WHERE n.effective_at - n.noticed_at >= r.required) AS on_time
              FROM quality_notices n
              JOIN unnest($3::text[], $4::interval[]) AS r (kind, required) ON r.kind = n.kind
             WHERE n.effective_at >= $1 AND n.effective_at < $2
             GROUP BY n.kind
            """,
            start,
            end,
            list(required),
            list(required.values()),
        )
        return {r["kind"]: NoticeCount(r["given"], r["on_time"]) for r in rows}

    # -- partners' names -------------------------------------------------------------------

    async def note_partner_names(self, conn: DbConnection, names: Sequence[PartnerName]) -> None:
        if names:
            await conn.executemany(
                """
                INSERT INTO quality_partners AS p (partner_id, name, revision) VALUES ($1, $2, $3)
                ON CONFLICT (partner_id) DO UPDATE SET name = EXCLUDED.name, revision = EXCLUDED.revision
                 WHERE p.revision < EXCLUDED.revision
                """,
                names,
            )

    async def partner_names(self, conn: DbConnection, partner_ids: Sequence[UUID]) -> dict[UUID, str]:
        rows = await conn.fetch(
            "SELECT partner_id, name FROM quality_partners WHERE partner_id = ANY($1::uuid[])",
            list(partner_ids),
        )
        return {r["partner_id"]: r["name"] for r in rows}

    # -- complaint clock runs ------------------------------------------------------------

    async def add_clock_runs(
        self, conn: DbConnection, breached: Sequence[ClockRunRow], stopped: Sequence[ClockRunRow]
    ) -> None:
        """Runs told breached (kept unless told stopped before) and stopped (met or met_late,
        whatever came before): written breaches first, so a batch holding both ends stopped."""
        if breached:
            await conn.executemany(
                "INSERT INTO quality_clock_runs (complaint_id, clock, started_at, day, outcome)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                sorted(breached),
            )
        if stopped:
            await conn.executemany(
                """
                INSERT INTO quality_clock_runs (complaint_id, clock, started_at, day, outcome)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (complaint_id, clock, started_at) DO UPDATE
                   SET day = EXCLUDED.day, outcome = EXCLUDED.outcome
                """,
                sorted(stopped),
            )

    async def add_blocked(
        self, conn: DbConnection, added: Mapping[tuple[date, UUID, str, str], tuple[int, int]]
    ) -> None:
        """Refusals of the content review, (day, partner, category, rule category) ->
        (requests, recipients), added to the day's counts."""
        if not added:
            return
        await conn.executemany(
            """
            INSERT INTO quality_content_blocked AS b
                   (day, partner_id, category, rule_category, requests, recipients)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (day, partner_id, category, rule_category) DO UPDATE
               SET requests = b.requests + EXCLUDED.requests,
                   recipients = b.recipients + EXCLUDED.recipients
            """,
            [(*key, n, r) for key, (n, r) in sorted(added.items())],
        )

    async def blocked(self, conn: DbConnection, first: date, end: date) -> dict[str, tuple[int, int]]:
        """Rule category -> (requests, recipients) refused in [first, end)."""
        rows = await conn.fetch(
            "SELECT rule_category, sum(requests)::bigint AS n, sum(recipients)::bigint AS r"
            " FROM quality_content_blocked WHERE day >= $1 AND day < $2"
            " GROUP BY rule_category ORDER BY rule_category",
            first,
            end,
        )
        return {r["rule_category"]: (r["n"], r["r"]) for r in rows}

    async def clock_runs(self, conn: DbConnection, first: date, end: date) -> dict[str, dict[str, int]]:
        """Clock -> outcome -> runs, for the runs of the days [first, end)."""
        rows = await conn.fetch(
            "SELECT clock, outcome, count(*) AS n FROM quality_clock_runs"
            " WHERE day >= $1 AND day < $2 GROUP BY clock, outcome ORDER BY clock, outcome",
            first,
            end,
        )
        found: dict[str, dict[str, int]] = {}
        for r in rows:
            found.setdefault(r["clock"], {})[r["outcome"]] = r["n"]
        return found

    # -- traffic -------------------------------------------------------------------------

    async def add_traffic(
        self, conn: DbConnection, direction: str, added: Mapping[datetime, list[int]]
    ) -> None:
        if not added:
            return
        await conn.executemany(
            """
            INSERT INTO quality_traffic_minutes AS t (direction, minute, messages, per_second, peak)
            VALUES ($1, $2, $3, $4::integer[], (SELECT max(v) FROM unnest($4::integer[]) AS v))
            ON CONFLICT (direction, minute) DO UPDATE
               SET messages = t.messages + EXCLUDED.messages,
                   per_second = quality_add_seconds(t.per_second, EXCLUDED.per_second),
                   peak = (SELECT max(v) FROM unnest(quality_add_seconds(t.per_second, EXCLUDED.per_second)) AS v)
            """,
            [(direction, minute, sum(seconds), seconds) for minute, seconds in sorted(added.items())],
        )

    async def newest_traffic_minutes(self, conn: DbConnection) -> dict[str, datetime]:
        """The newest minute rolled up of each direction ("mt", "mo") that has any (an index
        read each: max on the primary key's second column, the first fixed)."""
        rows = await conn.fetch(
            """
            SELECT d AS direction, (SELECT max(minute) FROM quality_traffic_minutes WHERE direction = d) AS minute
              FROM unnest(ARRAY['mt', 'mo']) AS d
            """
        )
        return {r["direction"]: r["minute"] for r in rows if r["minute"] is not None}

    async def traffic_hours(
        self, conn: DbConnection, direction: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, int, int]]:
        """(hour start, messages, busiest second) of each hour with traffic in [start, end)."""
        rows = await conn.fetch(
            """
            SELECT date_trunc('hour', minute) AS hour, sum(messages)::bigint AS messages, max(peak) AS peak
              FROM quality_traffic_minutes
             WHERE direction = $1 AND minute >= $2 AND minute < $3
             GROUP BY 1 ORDER BY 1
            """,
            direction,
            start,
            end,
        )
        return [(r["hour"], r["messages"], r["peak"]) for r in rows]


def _histogram(row: asyncpg.Record) -> Histogram:
    return Histogram.of(
        row["bucket_keys"],
        row["bucket_counts"],
        row["messages"],
        row["within_target"],
        row["sum_delay_s"],
        row["max_delay_s"],
    )


async def _delay_rows(
    conn: DbConnection, table: str, column: str, start: Any, end: Any
) -> list[tuple[Any, UUID, Histogram]]:
    """The delay histograms of the rows with `column` in [start, end), by time then partner
    (`table` and `column` are this module's constants, never input)."""
    rows = await conn.fetch(
        f"SELECT {column} AS at, partner_id, {_HIST_COLUMNS} FROM {table}"
        f" WHERE {column} >= $1 AND {column} < $2 ORDER BY {column}, partner_id",
        start,
        end,
    )
    return [(r["at"], r["partner_id"], _histogram(r)) for r in rows]
