"""Events produced by the subscription service on `subscription.events`."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "subscription"


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class SignaturePlacement(StrEnum):
    PREPEND = "prepend"  # the sms-sender puts the signature in front when it is missing
    REQUIRE = "require"  # content without the signature is refused


class PartnerState(Payload):
    """The whole current state of a partner (event-carried state transfer).

    `revision` grows with every change, so a consumer keeps the newest state even if it
    sees an older event again (at-least-once delivery, replays).
    """

    partner_id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str
    api_key_sha256: str
    revision: int
    updated_at: AwareDatetime
    # Sending profile (optional so that older events still read):
    signature: str | None = None  # the approved 【…】 signature
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: str | None = None  # the partner's SP access number; None: the provider default
    rate_limit_per_s: int | None = None  # messages per second; None: the sms-sender default


class _PartnerEvent(Event):
    producer: str = PRODUCER
    payload: PartnerState

    def key(self) -> str:
        return str(self.payload.partner_id)


class PartnerCreated(_PartnerEvent):
    type: Literal["partner.created"] = "partner.created"


class PartnerKeyRotated(_PartnerEvent):
    type: Literal["partner.key_rotated"] = "partner.key_rotated"


class PartnerStatusChanged(_PartnerEvent):
    type: Literal["partner.status_changed"] = "partner.status_changed"


class PartnerProfileChanged(_PartnerEvent):
    type: Literal["partner.profile_changed"] = "partner.profile_changed"


PARTNER_EVENTS = (PartnerCreated, PartnerKeyRotated, PartnerStatusChanged, PartnerProfileChanged)
EVENTS = PARTNER_EVENTS
