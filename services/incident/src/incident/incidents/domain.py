"""Incidents: what one is, its separate times and the rules between them, the status they imply,
edits, merges and resolution as pure transitions. No I/O.

The five times are kept apart (a lesson from Netflix Dispatch, which folded them into one):
impact started (users first affected) <= detected (we knew) <= reported (told outside the
team); mitigated (the impact ended) and resolved (the incident closed) come after the impact
started, and resolved after mitigated. Availability counts impact started -> mitigated (or
resolved when never mitigated); MTTR counts impact started -> resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from vas_common.events.envelope import Event
from vas_common.events.incident import IncidentOpened, IncidentResolved, IncidentState, IncidentUpdated

# How far ahead of the service's clock a time given by a person may be (clocks disagree a little).
CLOCK_SKEW = timedelta(minutes=2)


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAJOR_OUTAGE = "major_outage"  # a major communication outage: the regulator must be told

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class ImpactType(StrEnum):
    FULL = "full"  # the service did not work
    PARTIAL = "partial"  # it worked for some, or slowly
    MAINTENANCE = "maintenance"  # work on the service took it down


class IncidentStatus(StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"  # the impact ended; not closed yet
    RESOLVED = "resolved"
    MERGED = "merged"  # a duplicate: `merged_into` names the incident that carries on


class Origin(StrEnum):
    MANUAL = "manual"  # opened by a person
    SIGNAL = "signal"  # opened by a health signal (incident.signals)


class EntryKind(StrEnum):
    OPENED = "opened"
    EDITED = "edited"
    NOTE = "note"  # internal
    STATUS_UPDATE = "status_update"  # public: the status page shows it
    ROLE_ASSIGNED = "role_assigned"
    EVIDENCE = "evidence"  # a health signal's numbers
    SIGNAL_HEALTHY = "signal_healthy"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    MERGED = "merged"  # this incident was merged into another
    ABSORBED = "absorbed"  # another incident was merged into this one


# What a person may write on the timeline by hand; the rest is written by the use cases.
MANUAL_ENTRIES = frozenset({EntryKind.NOTE, EntryKind.STATUS_UPDATE})


@dataclass(frozen=True)
class Incident:
    id: UUID
    title: str
    summary: str
    severity: Severity
    impact: ImpactType
    status: IncidentStatus
    origin: Origin
    services: tuple[str, ...]
    products: tuple[str, ...]
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
    seq: int = 0  # given by the database

    @property
    def regulator_duty(self) -> bool:
        """A major outage must be reported to the regulator (the regulator-report work hooks here)."""
        return self.severity is Severity.MAJOR_OUTAGE

    @property
    def is_open(self) -> bool:
        return self.status in (IncidentStatus.OPEN, IncidentStatus.MITIGATED)

    @property
    def impact_ended_at(self) -> datetime | None:
        return self.mitigated_at or self.resolved_at


@dataclass(frozen=True)
class TimelineEntry:
    id: UUID
    incident_id: UUID
    kind: EntryKind
    at: datetime
    recorded_at: datetime
    actor: str
    text: str = ""
    public: bool = False
    detail: dict[str, Any] | None = None


def status_of(incident: Incident) -> IncidentStatus:
    """The status the data implies: merged, else resolved, mitigated or open by the times."""
    if incident.merged_into is not None:
        return IncidentStatus.MERGED
    if incident.resolved_at is not None:
        return IncidentStatus.RESOLVED
    if incident.mitigated_at is not None:
        return IncidentStatus.MITIGATED
    return IncidentStatus.OPEN


def time_problems(incident: Incident, now: datetime) -> list[str]:
    """What is wrong with the incident's times; empty when they are consistent."""
    problems: list[str] = []
    i = incident
    named = {
        "impact_started_at": i.impact_started_at,
        "detected_at": i.detected_at,
        "reported_at": i.reported_at,
        "mitigated_at": i.mitigated_at,
        "resolved_at": i.resolved_at,
    }
    for name, value in named.items():
        if value is not None and value > now + CLOCK_SKEW:
            problems.append(f"{name} is in the future")
    order = [
        ("impact_started_at", "detected_at"),
        ("detected_at", "reported_at"),
        ("impact_started_at", "mitigated_at"),
        ("impact_started_at", "resolved_at"),
        ("mitigated_at", "resolved_at"),
    ]
    for first, then in order:
        a, b = named[first], named[then]
        if a is not None and b is not None and b < a:
            problems.append(f"{then} is before {first}")
    return problems


@dataclass(frozen=True)
class Changes:
    """An edit: only the fields given change (`given` names them; a time given as None clears it)."""

    given: frozenset[str]
    title: str | None = None
    summary: str | None = None
    severity: Severity | None = None
    impact: ImpactType | None = None
    services: tuple[str, ...] | None = None
    products: tuple[str, ...] | None = None
    impact_started_at: datetime | None = None
    detected_at: datetime | None = None
    reported_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    commander: str | None = None
    communications: str | None = None


EDITABLE = (
    "title",
    "summary",
    "severity",
    "impact",
    "services",
    "products",
    "impact_started_at",
    "detected_at",
    "reported_at",
    "mitigated_at",
    "resolved_at",
    "commander",
    "communications",
)
_REQUIRED = frozenset({"title", "summary", "severity", "impact", "services", "products"})
_REQUIRED_TIMES = frozenset({"impact_started_at", "detected_at"})


def edited(incident: Incident, changes: Changes, now: datetime) -> tuple[Incident, dict[str, Any]] | None:
    """The incident after the edit and what changed ({field: [before, after]}), or None when
    nothing did. Fields that cannot be empty keep their value when given as None."""
    values: dict[str, Any] = {}
    for name in EDITABLE:
        if name not in changes.given:
            continue
        value = getattr(changes, name)
        if value is None and name in _REQUIRED | _REQUIRED_TIMES:
            continue
        if value != getattr(incident, name):
            values[name] = value
    if not values:
        return None
    after = replace(incident, **values, updated_at=now)
    after = replace(after, status=status_of(after))
    diff = {name: [_plain(getattr(incident, name)), _plain(value)] for name, value in values.items()}
    return after, diff


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def resolved(incident: Incident, at: datetime, mitigated_at: datetime | None, now: datetime) -> Incident:
    """Closed at `at`; the impact ended at `mitigated_at`, or when it was already recorded as
    ended, or at `at`."""
    after = replace(
        incident,
        mitigated_at=mitigated_at or incident.mitigated_at or at,
        resolved_at=at,
        updated_at=now,
    )
    return replace(after, status=status_of(after))


def merged(duplicate: Incident, survivor: Incident, now: datetime) -> tuple[Incident, Incident]:
    """(the duplicate, pointing at the survivor; the survivor, which now covers both): the
    survivor takes the union of services and products, the earlier impact start and detection,
    and the higher severity. Both timelines are kept where they are."""
    gone = replace(duplicate, merged_into=survivor.id, status=IncidentStatus.MERGED, updated_at=now)
    carries = replace(
        survivor,
        services=tuple(dict.fromkeys(survivor.services + duplicate.services)),
        products=tuple(dict.fromkeys(survivor.products + duplicate.products)),
        impact_started_at=min(survivor.impact_started_at, duplicate.impact_started_at),
        detected_at=min(survivor.detected_at, duplicate.detected_at),
        severity=max(survivor.severity, duplicate.severity, key=lambda s: s.rank),
        updated_at=now,
    )
    return gone, carries


def event_of(i: Incident, change: str) -> Event:
    """The incident.* event announcing `change`: the incident as it now is."""
    state = IncidentState(
        incident_id=i.id,
        change=change,
        title=i.title,
        status=i.status.value,
        severity=i.severity.value,
        regulator_duty=i.regulator_duty,
        impact=i.impact.value,
        origin=i.origin.value,
        services=list(i.services),
        products=list(i.products),
        impact_started_at=i.impact_started_at,
        detected_at=i.detected_at,
        reported_at=i.reported_at,
        mitigated_at=i.mitigated_at,
        resolved_at=i.resolved_at,
        merged_into=i.merged_into,
        occurred_at=i.updated_at,
    )
    if change == "opened":
        return IncidentOpened(payload=state)
    if change == "resolved":
        return IncidentResolved(payload=state)
    return IncidentUpdated(payload=state)
