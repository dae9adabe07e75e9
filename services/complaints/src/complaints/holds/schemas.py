"""HTTP shapes of disputes: the refund staff ask for when resolving a billing complaint."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from complaints.holds.domain import RefundAsk
from vas_common.types import JsonInt, SingleLineText


class RefundIn(BaseModel):
    """Return part or all of one charge of the complaint's user (a billing complaint only): the
    subscription service refunds it as a negative charge, or refuses (another user's charge, more
    than is left to refund); either answer lands on the timeline."""

    charge_id: UUID = Field(description="The user's charge, as the subscription service names it")
    amount_fen: JsonInt = Field(gt=0, le=10_000_000, description="What to return, in fen")
    reason: SingleLineText = Field(min_length=1, max_length=200)

    def ask(self) -> RefundAsk:
        return RefundAsk(self.charge_id, self.amount_fen, self.reason)
