"""HTTP shapes of the subscription service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from subscription.domain import Partner, SendingProfile
from vas_common.events.subscription import PartnerStatus, SignaturePlacement


class SendingProfileIn(BaseModel):
    signature: str | None = Field(
        default=None, pattern=r"^【[^【】]{2,20}】$", description="The approved signature, e.g. 【Acme】"
    )
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: str | None = Field(default=None, pattern=r"^106\d{2,17}$", description="SP access number")
    rate_limit_per_s: int | None = Field(default=None, ge=1, le=100_000)

    def domain(self) -> SendingProfile:
        return SendingProfile(**self.model_dump())


class PartnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="The CP's registered name")
    profile: SendingProfileIn = SendingProfileIn()


class PartnerUpdate(BaseModel):
    status: PartnerStatus | None = None
    profile: SendingProfileIn | None = None


class PartnerOut(BaseModel):
    id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str = Field(
        description="Public identifier of the current key (the key itself is never shown again)"
    )
    created_at: datetime
    updated_at: datetime
    profile: SendingProfileIn

    @classmethod
    def of(cls, partner: Partner) -> PartnerOut:
        return cls(
            id=partner.id,
            name=partner.name,
            status=partner.status,
            api_key_id=partner.api_key_id,
            created_at=partner.created_at,
            updated_at=partner.updated_at,
            profile=SendingProfileIn(**partner.profile.__dict__),
        )


class PartnerWithKeyOut(PartnerOut):
    api_key: str = Field(description="Shown once. Store it now: only its hash is kept.")


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_after: UUID | None


class WhoAmI(BaseModel):
    partner_id: str
    name: str
