"""Maintenance windows, produced by the incident service on `incident.events`: a window scheduled,
rescheduled or cancelled, its reminder before start, and its start and completion.

Every event carries the whole window as it is after the change (event-carried state), so a
consumer needs nothing else: which products (codes of the subscription catalogue) and services it
affects, when (aware datetimes; users are told Asia/Shanghai time), the Chinese text, and the
emergency flag with its reason. `notice` numbers the notices users are sent about the window
(1 when it is scheduled, then one more for each reschedule, cancellation and reminder): the
subscription service sends each notice to each subscriber once, keyed by (window, notice)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "incident"


class MaintenanceWindowState(Payload):
    window_id: UUID
    notice: int  # the number of the latest notice to users about this window (1, 2, ...)
    status: str  # scheduled | in_progress | completed | cancelled
    product_codes: list[str]
    services: list[str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime  # the expected end
    text_zh: str  # what users are told the maintenance does, in Chinese
    emergency: bool = False
    emergency_reason: str | None = None  # required when emergency: the 72 h notice was not given
    previous_starts_at: AwareDatetime | None = None  # a reschedule: the time users were told before
    previous_ends_at: AwareDatetime | None = None
    occurred_at: AwareDatetime


class _MaintenanceEvent(Event):
    producer: str = PRODUCER
    payload: MaintenanceWindowState

    def key(self) -> str:
        return str(self.payload.window_id)


class MaintenanceScheduled(_MaintenanceEvent):
    type: Literal["incident.maintenance_scheduled"] = "incident.maintenance_scheduled"


class MaintenanceRescheduled(_MaintenanceEvent):
    type: Literal["incident.maintenance_rescheduled"] = "incident.maintenance_rescheduled"


class MaintenanceCancelled(_MaintenanceEvent):
    type: Literal["incident.maintenance_cancelled"] = "incident.maintenance_cancelled"


class MaintenanceReminder(_MaintenanceEvent):
    type: Literal["incident.maintenance_reminder"] = "incident.maintenance_reminder"


class MaintenanceStarted(_MaintenanceEvent):
    type: Literal["incident.maintenance_started"] = "incident.maintenance_started"


class MaintenanceCompleted(_MaintenanceEvent):
    type: Literal["incident.maintenance_completed"] = "incident.maintenance_completed"


# The events that are a notice to users (each a new `notice` number).
NOTICE_EVENTS = (MaintenanceScheduled, MaintenanceRescheduled, MaintenanceCancelled, MaintenanceReminder)
# Every one of them carries this text (events are compact JSON): a consumer can skip the rest of
# incident.events before decoding.
TYPE_PREFIX = b'"type":"incident.maintenance_'

EVENTS = (*NOTICE_EVENTS, MaintenanceStarted, MaintenanceCompleted)
