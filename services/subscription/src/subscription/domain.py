"""Partner rules: creation, key rotation and status changes. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID, uuid4

from vas_common.auth import IssuedApiKey, issue_api_key
from vas_common.events.subscription import PartnerState, PartnerStatus, SignaturePlacement


@dataclass(frozen=True)
class SendingProfile:
    signature: str | None = None
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: str | None = None
    rate_limit_per_s: int | None = None


@dataclass(frozen=True)
class Partner:
    id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str
    api_key_sha256: str
    revision: int
    created_at: datetime
    updated_at: datetime
    profile: SendingProfile = SendingProfile()

    def state(self) -> PartnerState:
        return PartnerState(
            partner_id=self.id,
            name=self.name,
            status=self.status,
            api_key_id=self.api_key_id,
            api_key_sha256=self.api_key_sha256,
            revision=self.revision,
            updated_at=self.updated_at,
            signature=self.profile.signature,
            signature_placement=self.profile.signature_placement,
            access_number=self.profile.access_number,
            rate_limit_per_s=self.profile.rate_limit_per_s,
        )


def new_partner(
    name: str, now: datetime, profile: SendingProfile | None = None
) -> tuple[Partner, IssuedApiKey]:
    key = issue_api_key()
    partner = Partner(
        id=uuid4(),
        name=name.strip(),
        status=PartnerStatus.ACTIVE,
        api_key_id=key.key_id,
        api_key_sha256=key.sha256,
        revision=1,
        created_at=now,
        updated_at=now,
        profile=profile or SendingProfile(),
    )
    return partner, key


def rotate_key(partner: Partner, now: datetime) -> tuple[Partner, IssuedApiKey]:
    """A new key replaces the old one at once: the old key is revoked by the same change."""
    key = issue_api_key()
    rotated = replace(
        partner,
        api_key_id=key.key_id,
        api_key_sha256=key.sha256,
        revision=partner.revision + 1,
        updated_at=now,
    )
    return rotated, key


def change_status(partner: Partner, status: PartnerStatus, now: datetime) -> Partner | None:
    """The partner with its new status, or None when nothing changes."""
    if partner.status == status:
        return None
    return replace(partner, status=status, revision=partner.revision + 1, updated_at=now)


def change_profile(partner: Partner, profile: SendingProfile, now: datetime) -> Partner | None:
    if partner.profile == profile:
        return None
    return replace(partner, profile=profile, revision=partner.revision + 1, updated_at=now)
