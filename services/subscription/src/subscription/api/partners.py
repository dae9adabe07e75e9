"""Partner endpoints: operator management and partner self-service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query

from subscription.api.deps import Partners, current_partner
from subscription.schemas import (
    PartnerCreate,
    PartnerOut,
    PartnerPage,
    PartnerUpdate,
    PartnerWithKeyOut,
    WhoAmI,
)
from subscription.service.partners import AccessNumberOverlaps, PartnerNameConflict
from vas_common.access import Audience, audience_router
from vas_common.auth import AuthenticatedPartner
from vas_common.errors import documented

operator_router = audience_router(Audience.OPERATOR, prefix="/v1/partners", tags=["partners (operator)"])
partner_router = audience_router(Audience.PARTNER, prefix="/v1", tags=["partner self-service"])


@operator_router.post(
    "",
    status_code=201,
    response_model=PartnerWithKeyOut,
    responses=documented(PartnerNameConflict, AccessNumberOverlaps),
)
async def create_partner(body: PartnerCreate, service: Partners) -> PartnerWithKeyOut:
    partner, key = await service.create(body.name, body.profile.domain())
    return PartnerWithKeyOut(**PartnerOut.of(partner).model_dump(), api_key=key.secret)


@operator_router.get("", response_model=PartnerPage)
async def list_partners(
    service: Partners,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: UUID | None = None,
) -> PartnerPage:
    partners = await service.list(limit, after)
    next_after = partners[-1].id if len(partners) == limit else None
    return PartnerPage(items=[PartnerOut.of(p) for p in partners], next_after=next_after)


@operator_router.get("/{partner_id}", response_model=PartnerOut)
async def get_partner(partner_id: UUID, service: Partners) -> PartnerOut:
    return PartnerOut.of(await service.get(partner_id))


@operator_router.post("/{partner_id}/key-rotations", status_code=201, response_model=PartnerWithKeyOut)
async def rotate_partner_key(partner_id: UUID, service: Partners) -> PartnerWithKeyOut:
    """Issue a new key; the previous one stops working at once."""
    partner, key = await service.rotate_key(partner_id)
    return PartnerWithKeyOut(**PartnerOut.of(partner).model_dump(), api_key=key.secret)


@operator_router.patch("/{partner_id}", response_model=PartnerOut, responses=documented(AccessNumberOverlaps))
async def update_partner(partner_id: UUID, body: PartnerUpdate, service: Partners) -> PartnerOut:
    """Suspend or reactivate the partner, and/or change the fields of its sending profile that
    the body names (the others are kept; `null` clears a field)."""
    changes = body.profile.model_dump(exclude_unset=True) if body.profile is not None else {}
    return PartnerOut.of(await service.update(partner_id, body.status, changes))


@partner_router.get("/me", response_model=WhoAmI)
async def who_am_i(partner: Annotated[AuthenticatedPartner, Depends(current_partner)]) -> WhoAmI:
    return WhoAmI(partner_id=partner.partner_id, name=partner.name)
