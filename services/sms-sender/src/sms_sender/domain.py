"""Rules of the sms-sender that need no I/O."""

from __future__ import annotations

from vas_common.events.subscription import PartnerState, PartnerStatus


def partner_may_send(state: PartnerState) -> bool:
    return state.status == PartnerStatus.ACTIVE
