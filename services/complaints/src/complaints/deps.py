"""Dependencies shared by the endpoints: the use cases from app.state, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from complaints.complaint.service import ComplaintService
from complaints.sla.service import SlaService
from complaints.staff.service import StaffService
from vas_common.app import app_state
from vas_common.staff import StaffMember, staff_member


async def complaint_service(request: Request) -> ComplaintService:
    return app_state(request, "complaint_service", ComplaintService)


async def sla_service(request: Request) -> SlaService:
    return app_state(request, "sla_service", SlaService)


async def staff_actor(request: Request) -> str:
    """Who the staff member is, as histories name them: "王芳 (wangfang)", or "operator" for
    the operator token."""
    return staff_member(request).actor


async def staff_service(request: Request) -> StaffService:
    return app_state(request, "staff_service", StaffService)


async def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


Complaints = Annotated[ComplaintService, Depends(complaint_service)]
Sla = Annotated[SlaService, Depends(sla_service)]
Actor = Annotated[str, Depends(staff_actor)]
Staff = Annotated[StaffService, Depends(staff_service)]
Member = Annotated[StaffMember, Depends(staff_member)]
ClientAddress = Annotated[str | None, Depends(client_address)]
