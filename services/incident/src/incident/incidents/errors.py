"""The errors of the incident use cases (problem+json codes)."""

from __future__ import annotations

from vas_common.errors import Conflict, NotFound, ValidationFailed


class IncidentNotFound(NotFound):
    code = "incident_not_found"
    title = "No such incident"


class IncidentTimesInvalid(ValidationFailed):
    code = "incident_times_invalid"
    title = "The incident's times contradict each other or lie in the future"


class UnknownService(ValidationFailed):
    code = "unknown_service"
    title = "An affected service is not one this provider runs"


class IncidentMerged(Conflict):
    code = "incident_merged"
    title = "The incident was merged into another; change that one"


class MergeNotAllowed(Conflict):
    code = "merge_not_allowed"
    title = "An incident cannot be merged into itself or into one merged away"


class IncidentAlreadyResolved(Conflict):
    code = "incident_already_resolved"
    title = "The incident is resolved already"


class InvalidPageCursor(ValidationFailed):
    code = "invalid_cursor"
    title = "Not a cursor this service handed out"
