"""The errors of the regulator report use cases (problem+json codes)."""

from __future__ import annotations

from vas_common.errors import Conflict, NotFound, ValidationFailed


class RegulatorReportNotFound(NotFound):
    code = "regulator_report_not_found"
    title = "No such regulator report"


class RegulatorReportWithdrawn(Conflict):
    code = "regulator_report_withdrawn"
    title = "The incident is no longer a major outage: there is nothing to report"


class FirstReportNotSent(Conflict):
    code = "first_report_not_sent"
    title = "The final report comes after the first one: mark the first report sent first"


class IncidentNotResolved(Conflict):
    code = "incident_not_resolved"
    title = "The final report is sent after the incident was resolved"


class SentTimeInvalid(ValidationFailed):
    code = "sent_time_invalid"
    title = "The time the report was sent lies in the future"


class RegulatorRuleNotFound(NotFound):
    code = "regulator_rule_not_found"
    title = "No such regulator report rule"


class RegulatorRuleInvalid(ValidationFailed):
    code = "regulator_rule_invalid"
    title = "A warning must come before its deadline"
