"""HTTP shapes of the calendar's admin API."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from complaints.calendar.domain import (
    CalendarDay,
    CalendarYear,
    DayKind,
    DayOverride,
    DaySource,
    WorkingHours,
    YearDeclaration,
    YearSource,
)
from vas_common.types import SingleLineText

# A local time of day, not an RFC 3339 `time` (that one carries an offset): the hours are
# Asia/Shanghai's, whatever the season.
LocalTime = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        description="Asia/Shanghai local time of day, HH:MM or HH:MM:SS, without a time zone",
        examples=["09:00"],
    ),
]


def local_time_text(moment: time) -> str:
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


Note = Annotated[SingleLineText, Field(max_length=200, description="Why, e.g. the notice that says so")]


class DayIn(BaseModel):
    kind: DayKind = Field(description="`workday` or `holiday`, whatever the seed or the weekday says")
    note: Note = ""


class YearIn(BaseModel):
    complete: StrictBool = Field(
        description="true: the year's holidays and make-up working days are entered (as overrides),"
        " so the year no longer runs on the Mon-Fri fallback; false withdraws that"
    )
    note: Note = ""


class HoursIn(BaseModel):
    start: LocalTime
    end: LocalTime

    def times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class HoursOut(BaseModel):
    start: LocalTime
    end: LocalTime

    @classmethod
    def of(cls, hours: WorkingHours) -> HoursOut:
        return cls(start=local_time_text(hours.start), end=local_time_text(hours.end))


class OverrideOut(BaseModel):
    day: date
    kind: DayKind
    note: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, override: DayOverride) -> OverrideOut:
        return cls(
            day=override.day,
            kind=override.kind,
            note=override.note,
            updated_at=override.updated_at,
            updated_by=override.updated_by,
        )


class CalendarDayOut(BaseModel):
    day: date
    kind: DayKind
    source: DaySource = Field(
        description="`seed`: the packaged official schedule; `override`: an administrator"
    )
    note: str = Field(description="The administrator's note, or the official name of the day in Chinese")
    seeded_kind: DayKind | None = Field(description="What the official schedule says of the day, if anything")
    seeded_name_en: str | None = Field(description="The official schedule's name of the day in English")
    updated_at: datetime | None = Field(description="When the override was set")
    updated_by: str | None

    @classmethod
    def of(cls, day: CalendarDay) -> CalendarDayOut:
        return cls(
            day=day.day,
            kind=day.kind,
            source=day.source,
            note=day.note,
            seeded_kind=day.seeded.kind if day.seeded else None,
            seeded_name_en=day.seeded.note_en if day.seeded else None,
            updated_at=day.override.updated_at if day.override else None,
            updated_by=day.override.updated_by if day.override else None,
        )


class YearDeclarationOut(BaseModel):
    complete: bool
    note: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, declaration: YearDeclaration) -> YearDeclarationOut:
        return cls(
            complete=declaration.complete,
            note=declaration.note,
            updated_at=declaration.updated_at,
            updated_by=declaration.updated_by,
        )


class CalendarYearOut(BaseModel):
    year: int
    known: bool = Field(
        description="Whether the year's official schedule is in the calendar; if not, Mon-Fri is assumed"
    )
    known_by: YearSource | None
    declaration: YearDeclarationOut | None = Field(description="An administrator's word on the year")
    hours: HoursOut
    days: list[CalendarDayOut] = Field(
        description="Every day the official schedule or an override names (holidays, make-up working"
        " days, overridden days), in order; any other day is a working day when it is Mon-Fri"
    )
    version: int = Field(description="Goes up with every change of the calendar")
    missing_years: list[int] = Field(
        description="Years among this one and the next (Asia/Shanghai) without official data"
    )

    @classmethod
    def of(cls, year: CalendarYear, missing_years: list[int]) -> CalendarYearOut:
        return cls(
            year=year.year,
            known=year.known,
            known_by=year.known_by,
            declaration=YearDeclarationOut.of(year.declaration) if year.declaration else None,
            hours=HoursOut.of(year.hours),
            days=[CalendarDayOut.of(d) for d in year.days],
            version=year.revision,
            missing_years=missing_years,
        )
