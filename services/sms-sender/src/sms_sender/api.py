"""HTTP endpoints of the sms-sender (the send API arrives with the sms-sender issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from vas_common.auth import AuthenticatedPartner, authenticate_partner

from sms_sender.schemas import WhoAmI
from sms_sender.service import PartnerDirectory


def partner_directory(request: Request) -> PartnerDirectory:
    directory: PartnerDirectory = request.app.state.partner_directory
    return directory


async def current_partner(
    request: Request, directory: Annotated[PartnerDirectory, Depends(partner_directory)]
) -> AuthenticatedPartner:
    return await authenticate_partner(request, directory.authenticate)


router = APIRouter(prefix="/v1", tags=["partner"])


@router.get("/me", response_model=WhoAmI)
async def who_am_i(partner: Annotated[AuthenticatedPartner, Depends(current_partner)]) -> WhoAmI:
    return WhoAmI(partner_id=partner.partner_id, name=partner.name)
