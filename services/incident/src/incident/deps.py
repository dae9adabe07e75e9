"""Dependencies shared by the endpoints: the use cases from app.state, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from incident.availability.service import AvailabilityService
from incident.incidents.service import IncidentService
from vas_common.app import app_state
from vas_common.staff import Role, require_role, staff_member


async def incident_service(request: Request) -> IncidentService:
    return app_state(request, "incident_service", IncidentService)


async def availability_service(request: Request) -> AvailabilityService:
    return app_state(request, "availability_service", AvailabilityService)


async def staff_actor(request: Request) -> str:
    """Who the staff member is, as timelines name them: "王芳 (wangfang)", or "operator"."""
    return staff_member(request).actor


Incidents = Annotated[IncidentService, Depends(incident_service)]
Availability = Annotated[AvailabilityService, Depends(availability_service)]
Actor = Annotated[str, Depends(staff_actor)]
# Reading incidents: any signed-in staff member; changing them: a supervisor or above (the duty
# manager's role), or the operator token (machines).
Supervisor = require_role(Role.SUPERVISOR)
