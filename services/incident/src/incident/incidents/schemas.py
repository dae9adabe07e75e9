"""HTTP shapes of incidents: opening, editing, timeline entries, merging, resolving, views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from incident.incidents.domain import ImpactType, Incident, IncidentStatus, Origin, Severity, TimelineEntry
from incident.incidents.service import IncidentView
from vas_common.types import Instant, MultiLineText, SingleLineText

_SERVICE = r"^[a-z][a-z0-9-]{0,39}$"
_PRODUCT = r"^[A-Za-z0-9]{1,20}$"
ServiceName = Annotated[str, Field(pattern=_SERVICE, description="A service of the suite, e.g. sms-sender")]
ProductCode = Annotated[str, Field(pattern=_PRODUCT)]


class IncidentIn(BaseModel):
    """An incident opened by hand. Times default to now (impact started: when detected)."""

    title: SingleLineText = Field(min_length=1, max_length=200)
    summary: MultiLineText = Field(default="", max_length=4000)
    severity: Severity
    impact: ImpactType
    services: list[ServiceName] = Field(min_length=1, max_length=20)
    products: list[ProductCode] = Field(default_factory=list, max_length=100)
    impact_started_at: Instant | None = None
    detected_at: Instant | None = None
    reported_at: Instant | None = None
    commander: SingleLineText | None = Field(default=None, min_length=1, max_length=100)
    communications: SingleLineText | None = Field(default=None, min_length=1, max_length=100)


class IncidentPatch(BaseModel):
    """Only the fields sent change; a time sent as null is cleared (impact started and detected
    cannot be). Clearing resolved_at reopens the incident."""

    title: SingleLineText | None = Field(default=None, min_length=1, max_length=200)
    summary: MultiLineText | None = Field(default=None, max_length=4000)
    severity: Severity | None = None
    impact: ImpactType | None = None
    services: list[ServiceName] | None = Field(default=None, min_length=1, max_length=20)
    products: list[ProductCode] | None = Field(default=None, max_length=100)
    impact_started_at: Instant | None = None
    detected_at: Instant | None = None
    reported_at: Instant | None = None
    mitigated_at: Instant | None = None
    resolved_at: Instant | None = None
    commander: SingleLineText | None = Field(default=None, min_length=1, max_length=100)
    communications: SingleLineText | None = Field(default=None, min_length=1, max_length=100)


class EntryIn(BaseModel):
    """A note (internal) or a status update (public, in Chinese: the status page shows it)."""

    kind: Literal["note", "status_update"]
    text: MultiLineText = Field(min_length=1, max_length=4000)
    at: Instant | None = Field(default=None, description="When it happened; default now")


class MergeIn(BaseModel):
    into: UUID = Field(description="The incident that carries on")


class ResolveIn(BaseModel):
    resolved_at: Instant | None = Field(default=None, description="Default now")
    mitigated_at: Instant | None = Field(
        default=None, description="When the impact ended, if not recorded yet; default resolved_at"
    )
    note: MultiLineText = Field(default="", max_length=4000)


class IncidentOut(BaseModel):
    id: UUID
    title: str
    summary: str
    severity: Severity
    regulator_duty: bool = Field(description="A major outage: the regulator must be told")
    impact: ImpactType
    status: IncidentStatus
    origin: Origin
    services: list[str]
    products: list[str]
    impact_started_at: datetime
    detected_at: datetime
    reported_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    commander: str | None
    communications: str | None
    merged_into: UUID | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        return cls(
            **{name: getattr(i, name) for name in cls.model_fields if name not in ("services", "products")},
            services=list(i.services),
            products=list(i.products),
        )


class EntryOut(BaseModel):
    id: UUID
    incident_id: UUID = Field(description="Where it was written (an incident merged in keeps its entries)")
    kind: str
    at: datetime
    recorded_at: datetime
    actor: str
    text: str
    public: bool
    detail: dict[str, Any]

    @classmethod
    def of(cls, e: TimelineEntry) -> EntryOut:
        return cls(
            id=e.id,
            incident_id=e.incident_id,
            kind=e.kind.value,
            at=e.at,
            recorded_at=e.recorded_at,
            actor=e.actor,
            text=e.text,
            public=e.public,
            detail=e.detail or {},
        )


class IncidentDetailOut(BaseModel):
    incident: IncidentOut
    timeline: list[EntryOut]
    status_updates: list[EntryOut] = Field(description="The public entries, newest first")
    merged: list[UUID] = Field(description="Incidents merged into this one")

    @classmethod
    def of(cls, view: IncidentView) -> IncidentDetailOut:
        timeline = [EntryOut.of(e) for e in view.timeline]
        return cls(
            incident=IncidentOut.of(view.incident),
            timeline=timeline,
            status_updates=[e for e in reversed(timeline) if e.public],
            merged=view.merged,
        )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Ask with it for the next (older) page; null on the last")
