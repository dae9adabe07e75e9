"""Availability endpoint (any staff member): a service's month, with the intervals it came from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from incident.availability.schemas import AvailabilityOut
from incident.availability.service import InvalidMonth
from incident.deps import Availability
from vas_common.access import Audience, audience_router
from vas_common.errors import documented

router = audience_router(Audience.STAFF, prefix="/v1/availability", tags=["availability (staff)"])


@router.get("", response_model=AvailabilityOut, responses=documented(InvalidMonth))
async def availability(
    availability: Availability,
    service: Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="e.g. sms-sender")],
    month: Annotated[
        str, Query(pattern=r"^2[0-9]{3}-(0[1-9]|1[0-2])$", description="YYYY-MM, Asia/Shanghai")
    ],
) -> AvailabilityOut:
    """Availability, MTTR and MTBF of the service in the month by the rule stated in the answer,
    and every impact interval counted, so that the figures can be recomputed by hand."""
    figures = await availability.month(service, month)
    return AvailabilityOut.of(service, month, figures, availability.rule)
