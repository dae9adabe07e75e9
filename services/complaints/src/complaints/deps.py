"""Dependencies shared by the endpoints: the use cases from app.state, and who is calling."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request

from complaints.complaint.service import ComplaintService
from complaints.sla.service import SlaService

T = TypeVar("T")


def _state(request: Request, name: str, kind: type[T]) -> T:
    value = getattr(request.app.state, name)
    assert isinstance(value, kind)
    return value


async def complaint_service(request: Request) -> ComplaintService:
    return _state(request, "complaint_service", ComplaintService)


async def sla_service(request: Request) -> SlaService:
    return _state(request, "sla_service", SlaService)


async def staff_actor(request: Request) -> str:
    """Who the staff member is. The operator token names no person yet: "operator"."""
    return "operator"


async def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


Complaints = Annotated[ComplaintService, Depends(complaint_service)]
Sla = Annotated[SlaService, Depends(sla_service)]
Actor = Annotated[str, Depends(staff_actor)]
ClientAddress = Annotated[str | None, Depends(client_address)]
