"""Regulator reports of major outages, produced by the incident service on `incident.events`: a
report's deadline comes near unsent (`incident.regulator_report_due_soon`, the warning) or passes
unsent (`incident.regulator_report_overdue`). Each is raised once per report, stage (the first
report or the final one) and due time, by whichever replica's tick sees it first.

A report is owed when an incident becomes a major outage (`regulator_duty` on the incident.*
events): the first report within a time of detection, the final one within a time of
resolution, by the rule that applied (its id and revision are in the payload)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "incident"


class RegulatorReportAlert(Payload):
    report_id: UUID
    incident_id: UUID
    incident_title: str
    stage: str  # first | final
    alert: str  # due_soon | overdue
    due_at: AwareDatetime
    rule_id: str
    rule_revision: int
    at: AwareDatetime  # when the alert fell due (the warning time, or the due time)


class _RegulatorReportEvent(Event):
    producer: str = PRODUCER
    payload: RegulatorReportAlert

    def key(self) -> str:
        return str(self.payload.incident_id)


class RegulatorReportDueSoon(_RegulatorReportEvent):
    type: Literal["incident.regulator_report_due_soon"] = "incident.regulator_report_due_soon"


class RegulatorReportOverdue(_RegulatorReportEvent):
    type: Literal["incident.regulator_report_overdue"] = "incident.regulator_report_overdue"


EVENTS = (RegulatorReportDueSoon, RegulatorReportOverdue)
