"""Calendar SQL: overrides, declared years, working hours and the revision. Functions take a
connection; the service owns transactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from complaints.calendar.domain import DayKind, DayOverride, WorkingHours, YearDeclaration
from vas_common.db import DbConnection


@dataclass(frozen=True)
class CalendarSettings:
    hours: WorkingHours
    revision: int  # goes up with every change of the stored calendar
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True)
class CalendarRows:
    """Everything stored, read in one transaction: one consistent revision."""

    settings: CalendarSettings
    overrides: list[DayOverride]
    years: list[YearDeclaration]


_DAY_COLUMNS = "day, kind, note, updated_at, updated_by"
_YEAR_COLUMNS = "year, complete, note, updated_at, updated_by"
_SETTINGS_COLUMNS = "work_start, work_end, revision, updated_at, updated_by"


def _override(row: asyncpg.Record) -> DayOverride:
    return DayOverride(
        day=row["day"],
        kind=DayKind(row["kind"]),
        note=row["note"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _year(row: asyncpg.Record) -> YearDeclaration:
    return YearDeclaration(
        year=row["year"],
        complete=row["complete"],
        note=row["note"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def _settings(row: asyncpg.Record) -> CalendarSettings:
    return CalendarSettings(
        hours=WorkingHours(row["work_start"], row["work_end"]),
        revision=row["revision"],
        changed_at=row["updated_at"],
        changed_by=row["updated_by"],
    )


class CalendarRepository:
    async def revision(self, conn: DbConnection) -> int:
        found: int = await conn.fetchval("SELECT revision FROM calendar_settings")
        return found

    async def settings(self, conn: DbConnection, *, for_update: bool = False) -> CalendarSettings:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_SETTINGS_COLUMNS} FROM calendar_settings{lock}")
        assert row is not None, "calendar_settings has its one row from the migration"
        return _settings(row)

    async def load(self, conn: DbConnection) -> CalendarRows:
        settings = await self.settings(conn)
        overrides = await conn.fetch(f"SELECT {_DAY_COLUMNS} FROM calendar_days ORDER BY day")
        years = await conn.fetch(f"SELECT {_YEAR_COLUMNS} FROM calendar_years ORDER BY year")
        return CalendarRows(settings, [_override(r) for r in overrides], [_year(r) for r in years])

    async def bump_revision(self, conn: DbConnection, at: datetime, by: str) -> int:
        """The next revision; also serialises the calendar's writers (the row stays locked until
        the transaction ends)."""
        revision: int = await conn.fetchval(
            """
            UPDATE calendar_settings SET revision = revision + 1, updated_at = $1, updated_by = $2
            RETURNING revision
            """,
            at,
            by,
        )
        return revision

    async def set_hours(self, conn: DbConnection, hours: WorkingHours) -> None:
        await conn.execute(
            "UPDATE calendar_settings SET work_start = $1, work_end = $2", hours.start, hours.end
        )

    async def upsert_override(self, conn: DbConnection, override: DayOverride) -> DayOverride:
        row = await conn.fetchrow(
            f"""
            INSERT INTO calendar_days ({_DAY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (day) DO UPDATE
               SET kind = EXCLUDED.kind, note = EXCLUDED.note,
                   updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            RETURNING {_DAY_COLUMNS}
            """,
            override.day,
            override.kind.value,
            override.note,
            override.updated_at,
            override.updated_by,
        )
        assert row is not None
        return _override(row)

    async def delete_override(self, conn: DbConnection, day: date) -> DayOverride | None:
        row = await conn.fetchrow(f"DELETE FROM calendar_days WHERE day = $1 RETURNING {_DAY_COLUMNS}", day)
        return _override(row) if row else None

    async def upsert_year(self, conn: DbConnection, declaration: YearDeclaration) -> YearDeclaration:
        row = await conn.fetchrow(
            f"""
            INSERT INTO calendar_years ({_YEAR_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (year) DO UPDATE
               SET complete = EXCLUDED.complete, note = EXCLUDED.note,
                   updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            RETURNING {_YEAR_COLUMNS}
            """,
            declaration.year,
            declaration.complete,
            declaration.note,
            declaration.updated_at,
            declaration.updated_by,
        )
        assert row is not None
        return _year(row)
