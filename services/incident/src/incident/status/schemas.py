"""Bodies of the status API (public JSON; the commitments' admin endpoint)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self
from uuid import UUID

from pydantic import BaseModel, Field

from incident.availability.domain import SHANGHAI
from incident.availability.schemas import RuleOut
from incident.incidents.domain import ImpactType, IncidentStatus, Severity
from incident.maintenance.domain import Window, WindowStatus
from incident.status.domain import (
    Commitment,
    DayBar,
    DayLevel,
    PublicIncident,
    PublishedProduct,
    ServiceState,
    service_name,
    service_types,
)
from incident.status.service import Board, Published
from vas_common.types import MultiLineText, SingleLineText


class CommitmentOut(BaseModel):
    key: str
    topic: str
    title: str
    promise: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, c: Commitment) -> Self:
        return cls(
            key=c.key,
            topic=c.topic,
            title=c.title,
            promise=c.promise,
            updated_at=c.updated_at,
            updated_by=c.updated_by,
        )


class CommitmentIn(BaseModel):
    title: SingleLineText = Field(min_length=1, max_length=100)
    promise: MultiLineText = Field(min_length=1, max_length=1000)


class ProductOut(BaseModel):
    """A service on sale as the catalogue announced it: what it is, its tariff and scope."""

    code: str
    name: str
    provider: str
    price: str = Field(description="As users are told it, e.g. 5元/月")
    billing_type: str
    description: str
    scope: str = Field(description="Where and to whom it is offered (the catalogue's availability)")
    charge_rule: str
    month_rules: str
    how_to_cancel: str
    fault_hotline: str
    consult_hotline: str
    discontinue_at: datetime | None = Field(description="The announced end, if any")
    discontinued_at: datetime | None

    @classmethod
    def of(cls, p: PublishedProduct) -> Self:
        return cls(
            code=p.product_code,
            name=p.text("name"),
            provider=p.text("provider"),
            price=p.text("price"),
            billing_type=p.text("billing_type"),
            description=p.text("description"),
            scope=p.text("availability"),
            charge_rule=p.text("charge_rule"),
            month_rules=p.text("month_rules"),
            how_to_cancel=p.text("how_to_cancel"),
            fault_hotline=p.text("fault_hotline"),
            consult_hotline=p.text("consult_hotline"),
            discontinue_at=p.discontinue_at,
            discontinued_at=p.discontinued_at,
        )


class ServiceTypeOut(BaseModel):
    name: str
    products_on_sale: int


class PublishedOut(BaseModel):
    """The provider's published commitments, service types, and the tariffs and scope of each
    service on sale (from the subscription catalogue)."""

    commitments: list[CommitmentOut]
    service_types: list[ServiceTypeOut]
    products: list[ProductOut]

    @classmethod
    def of(cls, published: Published) -> Self:
        return cls(
            commitments=[CommitmentOut.of(c) for c in published.commitments],
            service_types=[
                ServiceTypeOut(name=n, products_on_sale=k) for n, k in service_types(published.products)
            ],
            products=[ProductOut.of(p) for p in published.products],
        )


# -- GET /v1/status: everything the page shows ----------------------------------------------


def beijing(moment: datetime) -> str:
    """An instant in Beijing time, to the minute, as the page shows it."""
    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


class PublicUpdateOut(BaseModel):
    at: datetime
    text: str = Field(description="In Chinese, as published")


class PublicIncidentOut(BaseModel):
    """An incident's public side: no summary, roles, notes, evidence or names."""

    id: UUID
    title: str
    status: IncidentStatus = Field(description="open (impact going on) | mitigated (impact ended) | resolved")
    impact: ImpactType = Field(description="full | partial | maintenance")
    severity: Severity
    services: list[str]
    products: list[str]
    impact_started_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    updates: list[PublicUpdateOut] = Field(description="Public status updates, oldest first")

    @classmethod
    def of(cls, p: PublicIncident) -> Self:
        i = p.incident
        return cls(
            id=i.id,
            title=i.title,
            status=i.status,
            impact=i.impact,
            severity=i.severity,
            services=list(i.services),
            products=list(i.products),
            impact_started_at=i.impact_started_at,
            mitigated_at=i.mitigated_at,
            resolved_at=i.resolved_at,
            updates=[PublicUpdateOut(at=u.at, text=u.text) for u in p.updates],
        )


class PublicWindowOut(BaseModel):
    """A maintenance window as users are told of it (the emergency reason is the regulator's)."""

    id: UUID
    status: WindowStatus
    starts_at: datetime
    ends_at: datetime = Field(description="The expected end")
    starts_local: str = Field(description="Beijing time, YYYY-MM-DD HH:MM")
    ends_local: str
    services: list[str]
    product_codes: list[str]
    text_zh: str
    emergency: bool = Field(description="Announced less than the notice period (72 h) ahead")
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, w: Window) -> Self:
        return cls(
            id=w.id,
            status=w.status,
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            starts_local=beijing(w.starts_at),
            ends_local=beijing(w.ends_at),
            services=list(w.services),
            product_codes=list(w.product_codes),
            text_zh=w.text_zh,
            emergency=w.emergency,
            started_at=w.started_at,
            completed_at=w.completed_at,
        )


class DayOut(BaseModel):
    day: date = Field(description="Asia/Shanghai")
    availability: float | None = Field(description="0..1 by the rule; null for a day not begun")
    level: DayLevel
    down_seconds: float
    weighted_down_seconds: float
    excluded_seconds: float = Field(description="Maintenance announced on time, left out")
    incidents: list[UUID]
    maintenance: list[UUID]

    @classmethod
    def of(cls, b: DayBar) -> Self:
        f = b.figures
        return cls(
            day=b.day,
            availability=f.availability,
            level=b.level,
            down_seconds=f.down_seconds,
            weighted_down_seconds=f.weighted_down_seconds,
            excluded_seconds=f.excluded_seconds,
            incidents=list(b.incident_ids),
            maintenance=list(b.maintenance_ids),
        )


class ServiceStatusOut(BaseModel):
    service: str
    name: str = Field(description="As the page names it, in Chinese")
    state: ServiceState = Field(
        description="operational | maintenance (a window under way) | degraded (partial impact going on) "
        "| outage (full impact going on)"
    )
    availability: float | None = Field(description="Over the days shown, by the rule")
    days: list[DayOut] = Field(description="Oldest first, today last")


class HistoryOut(BaseModel):
    first_day: date
    last_day: date
    availability_target: float = Field(description="The promise: a day below it is `breached`")
    rule: RuleOut
    incidents: list[PublicIncidentOut] = Field(description="Every incident touching the days, latest first")
    maintenance: list[PublicWindowOut] = Field(description="Windows that ran in the days")


class StatusOut(BaseModel):
    """Everything the status page shows (`GET /status`), as data."""

    generated_at: datetime
    services: list[ServiceStatusOut]
    current_incidents: list[PublicIncidentOut] = Field(description="Not resolved (nor merged)")
    upcoming_maintenance: list[PublicWindowOut] = Field(description="Under way or to come, not cancelled")
    history: HistoryOut
    published: PublishedOut

    @classmethod
    def of(cls, b: Board) -> Self:
        return cls(
            generated_at=b.now,
            services=[
                ServiceStatusOut(
                    service=s.service,
                    name=service_name(s.service),
                    state=s.state,
                    availability=s.figures.availability,
                    days=[DayOut.of(bar) for bar in s.bars],
                )
                for s in b.services
            ],
            current_incidents=[PublicIncidentOut.of(p) for p in b.current],
            upcoming_maintenance=[PublicWindowOut.of(w) for w in b.upcoming],
            history=HistoryOut(
                first_day=b.days[0],
                last_day=b.days[-1],
                availability_target=b.target,
                rule=RuleOut.of(b.rule),
                incidents=[PublicIncidentOut.of(p) for p in b.incidents],
                maintenance=[PublicWindowOut.of(w) for w in b.ran],
            ),
            published=PublishedOut.of(b.published),
        )
