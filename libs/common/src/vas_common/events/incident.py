"""Events produced by the incident service on `incident.events` about incidents: opened (by a
person or by a health signal), updated (edited, a public status update, a role, mitigated,
merged) and resolved. Each carries the incident as it now is, so a consumer needs no call back.

`regulator_duty` is derived from the severity (a major outage must be reported to the
regulator): the regulator-report work starts from it."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "incident"


class IncidentState(Payload):
    incident_id: UUID
    change: str  # opened | edited | status_update | role_assigned | mitigated | merged | absorbed | resolved | note
    title: str
    status: str  # open | mitigated | resolved | merged
    severity: str  # minor | major | critical | major_outage
    regulator_duty: bool  # severity is major_outage
    impact: str  # full | partial | maintenance
    origin: str  # manual | signal
    services: list[str]
    products: list[str]
    impact_started_at: AwareDatetime
    detected_at: AwareDatetime
    reported_at: AwareDatetime | None = None
    mitigated_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    merged_into: UUID | None = None
    occurred_at: AwareDatetime


class _IncidentEvent(Event):
    producer: str = PRODUCER
    payload: IncidentState

    def key(self) -> str:
        return str(self.payload.incident_id)


class IncidentOpened(_IncidentEvent):
    type: Literal["incident.opened"] = "incident.opened"


class IncidentUpdated(_IncidentEvent):
    type: Literal["incident.updated"] = "incident.updated"


class IncidentResolved(_IncidentEvent):
    type: Literal["incident.resolved"] = "incident.resolved"


EVENTS = (IncidentOpened, IncidentUpdated, IncidentResolved)
