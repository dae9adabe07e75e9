"""What the public status page shows. The published part: the provider's commitments (its
promises, in the words published) and the services on sale with their tariffs and scope, as the
subscription catalogue announced them. The live part: each service's state now, the incidents'
public side, maintenance under way or to come, and a bar a day of availability by the rule of
incident.availability (its `compute`, over the day)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from incident.availability.domain import (
    SHANGHAI,
    AvailabilityRule,
    Figures,
    ImpactInterval,
    compute,
    day_bounds,
)
from incident.incidents.domain import EntryKind, ImpactType, Incident, IncidentStatus, TimelineEntry
from incident.maintenance.domain import Window, WindowStatus


@dataclass(frozen=True)
class Commitment:
    key: str
    position: int
    topic: str
    title: str
    promise: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class PublishedProduct:
    product_id: UUID
    product_code: str
    partner_id: UUID
    listing: dict[str, Any]  # vas_common.events.subscription.ProductListing, as JSON
    published_at: datetime
    discontinue_at: datetime | None
    discontinue_reason: str | None
    discontinued_at: datetime | None

    @property
    def on_sale(self) -> bool:
        return self.discontinued_at is None

    def text(self, field: str) -> str:
        return str(self.listing.get(field, ""))


# The service types the catalogue's billing types stand for, as the page names them.
SERVICE_TYPES = {
    "monthly": "包月订阅类短信业务",
    "per_message": "按条计费类短信业务",
}


def service_types(products: list[PublishedProduct]) -> list[tuple[str, int]]:
    """Each service type offered now, with how many products on sale are of it."""
    counts: dict[str, int] = {}
    for product in products:
        if product.on_sale:
            kind = product.text("billing_type")
            counts[kind] = counts.get(kind, 0) + 1
    return [(SERVICE_TYPES.get(kind, kind), n) for kind, n in sorted(counts.items())]


# -- the live part: each service's state now, and its days ---------------------------------


class ServiceState(StrEnum):
    OPERATIONAL = "operational"
    MAINTENANCE = "maintenance"  # a maintenance window under way
    DEGRADED = "degraded"  # an incident of partial impact still going
    OUTAGE = "outage"  # an incident of full impact still going

    @property
    def rank(self) -> int:
        return list(ServiceState).index(self)


_STATE_OF_IMPACT = {
    ImpactType.FULL: ServiceState.OUTAGE,
    ImpactType.PARTIAL: ServiceState.DEGRADED,
    ImpactType.MAINTENANCE: ServiceState.MAINTENANCE,
}


class DayLevel(StrEnum):
    """A day's bar: no time down; down but at or above the promised availability; below it; no
    time down but maintenance announced on time; a day not begun (or nothing of it counted)."""

    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    MAINTENANCE = "maintenance"
    NO_DATA = "none"


# The services as the page names them; a service without a name here shows as its slug.
SERVICE_NAMES = {
    "sms-sender": "短信发送",
    "subscription": "业务订购与退订",
    "complaints": "投诉受理",
    "incident": "服务状态通报",
}


def service_name(service: str) -> str:
    return SERVICE_NAMES.get(service, service)


@dataclass(frozen=True)
class PublicUpdate:
    """A status update as the public sees it: when and what; never who wrote it."""

    entry_id: UUID
    at: datetime
    text: str


@dataclass(frozen=True)
class PublicIncident:
    """An incident as the page shows it: no summary, roles, notes or evidence; its public updates
    and those of the incidents merged into it."""

    incident: Incident
    updates: tuple[PublicUpdate, ...]


def public_updates(entries: list[TimelineEntry]) -> tuple[PublicUpdate, ...]:
    return tuple(
        PublicUpdate(e.id, e.at, e.text)
        for e in sorted(entries, key=lambda e: (e.at, e.recorded_at))
        if e.kind is EntryKind.STATUS_UPDATE and e.public
    )


def under_way(window: Window, now: datetime) -> bool:
    """Started and not over (the tick that marks the start may be a few seconds behind)."""
    if window.status is WindowStatus.IN_PROGRESS:
        return True
    return window.status is WindowStatus.SCHEDULED and window.starts_at <= now < window.ends_at


def upcoming(windows: list[Window], now: datetime) -> list[Window]:
    """Windows under way or to come (not cancelled), soonest first."""
    return sorted(
        (
            w
            for w in windows
            if w.status in (WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS) and w.ends_at > now
        ),
        key=lambda w: (w.starts_at, w.id),
    )


def state_now(service: str, incidents: list[Incident], windows: list[Window], now: datetime) -> ServiceState:
    """The worst of: an incident of the service whose impact still goes on (open: not mitigated,
    resolved or merged) by its impact, a maintenance window of the service under way."""
    state = ServiceState.OPERATIONAL
    for i in incidents:
        if i.status is IncidentStatus.OPEN and service in i.services:
            state = max(state, _STATE_OF_IMPACT[i.impact], key=lambda s: s.rank)
    if any(service in w.services and under_way(w, now) for w in windows):
        state = max(state, ServiceState.MAINTENANCE, key=lambda s: s.rank)
    return state


def history_days(now: datetime, count: int) -> list[date]:
    """The last `count` days in Asia/Shanghai, today last."""
    today = now.astimezone(SHANGHAI).date()
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


@dataclass(frozen=True)
class DayBar:
    day: date
    figures: Figures  # by the availability rule, over the day (up to now today)
    level: DayLevel
    incident_ids: tuple[UUID, ...]
    maintenance_ids: tuple[UUID, ...]


def level_of(figures: Figures, target: float) -> DayLevel:
    if figures.period_seconds <= 0:
        return DayLevel.NO_DATA
    if figures.weighted_down_seconds > 0 and figures.availability is not None:
        return DayLevel.WARNING if figures.availability >= target else DayLevel.BREACHED
    if figures.excluded_seconds > 0 or any(c.interval.source == "maintenance" for c in figures.intervals):
        return DayLevel.MAINTENANCE
    return DayLevel.OK if figures.availability is not None else DayLevel.NO_DATA


def day_bars(
    intervals: list[ImpactInterval], days: list[date], now: datetime, rule: AvailabilityRule, target: float
) -> list[DayBar]:
    """One bar a day: the day's availability by the same rule as a month's (`compute`), from the
    intervals touching it."""
    bars = []
    for day in days:
        start, end = day_bounds(day)
        touching = [i for i in intervals if i.start < end and (i.end is None or i.end > start)]
        figures = compute(touching, start, end, now, rule)
        seen = figures.intervals
        bars.append(
            DayBar(
                day=day,
                figures=figures,
                level=level_of(figures, target),
                incident_ids=_ids(c.interval.source_id for c in seen if c.interval.source == "incident"),
                maintenance_ids=_ids(
                    c.interval.source_id for c in seen if c.interval.source == "maintenance"
                ),
            )
        )
    return bars


def _ids(ids: Iterable[UUID]) -> tuple[UUID, ...]:
    return tuple(dict.fromkeys(ids))


def days_touched(start: datetime, end: datetime | None, days: list[date], now: datetime) -> list[date]:
    """The days of `days` (Asia/Shanghai) that [start, end) touches; an end of None is now."""
    first, _ = day_bounds(days[0])
    _, last = day_bounds(days[-1])
    a, b = max(start, first), min(end or now, now, last)
    if b < a:
        return []
    day, stop = a.astimezone(SHANGHAI).date(), b.astimezone(SHANGHAI).date()
    touched = []
    while day <= stop:
        touched.append(day)
        day += timedelta(days=1)
    return touched


def event_days(
    incidents: list[Incident], windows: list[Window], days: list[date], now: datetime
) -> dict[date, tuple[list[UUID], list[UUID]]]:
    """Each day of `days` with the incidents whose impact touched it and the maintenance windows
    that ran on it (every service, products too)."""
    found: dict[date, tuple[list[UUID], list[UUID]]] = {}
    for i in incidents:
        for day in days_touched(i.impact_started_at, i.impact_ended_at, days, now):
            found.setdefault(day, ([], []))[0].append(i.id)
    for w in windows:
        if w.started_at is not None:
            for day in days_touched(w.started_at, w.completed_at, days, now):
                found.setdefault(day, ([], []))[1].append(w.id)
    return found
