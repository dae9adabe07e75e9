"""Bodies of the records API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from incident.records.domain import RecordHold
from vas_common.types import MultiLineText, SingleLineText


class HoldIn(BaseModel):
    """A legal hold on one incident (and everything merged into it) or one maintenance window."""

    incident_id: UUID | None = None
    window_id: UUID | None = None
    holder: SingleLineText = Field(min_length=1, max_length=100, description="Who asks: regulator, legal, …")
    reason: MultiLineText = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_record(self) -> Self:
        if (self.incident_id is None) == (self.window_id is None):
            raise ValueError("name exactly one of incident_id and window_id")
        return self


class HoldOut(BaseModel):
    id: UUID
    incident_id: UUID | None
    window_id: UUID | None
    holder: str
    reason: str
    placed_at: datetime
    placed_by: str
    released_at: datetime | None
    released_by: str | None

    @classmethod
    def of(cls, h: RecordHold) -> Self:
        return cls(
            id=h.id,
            incident_id=h.incident_id,
            window_id=h.window_id,
            holder=h.holder,
            reason=h.reason,
            placed_at=h.placed_at,
            placed_by=h.placed_by,
            released_at=h.released_at,
            released_by=h.released_by,
        )


class RecordsExportOut(BaseModel):
    """The records of a period as stored: each incident with its timeline, each maintenance
    window with the notices users were sent (and how many were told) and its regulator tasks,
    and the holds on them. Times are UTC."""

    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime
    exported_at: AwareDatetime
    incidents: list[dict[str, Any]]
    maintenance_windows: list[dict[str, Any]]
    holds: list[dict[str, Any]]

    model_config = {"populate_by_name": True}
