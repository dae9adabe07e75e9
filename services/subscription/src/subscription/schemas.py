"""HTTP shapes of the subscription service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field
from vas_common.events.subscription import PartnerStatus

from subscription.domain import Partner


class PartnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="The CP's registered name")


class PartnerStatusUpdate(BaseModel):
    status: PartnerStatus


class PartnerOut(BaseModel):
    id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str = Field(
        description="Public identifier of the current key (the key itself is never shown again)"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, partner: Partner) -> PartnerOut:
        return cls(
            id=partner.id,
            name=partner.name,
            status=partner.status,
            api_key_id=partner.api_key_id,
            created_at=partner.created_at,
            updated_at=partner.updated_at,
        )


class PartnerWithKeyOut(PartnerOut):
    api_key: str = Field(description="Shown once. Store it now: only its hash is kept.")


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_after: UUID | None


class WhoAmI(BaseModel):
    partner_id: str
    name: str
