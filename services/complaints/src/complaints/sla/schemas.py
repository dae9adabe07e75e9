"""HTTP shapes of SLA policies."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, model_validator

from complaints.sla.domain import Basis, Category, Channel, ClockKind, Policy
from vas_common.msisdn import MSISDN_PATTERN
from vas_common.types import JsonInt, SingleLineText


class PolicyIn(BaseModel):
    """A clock for the complaints it matches. With `partner_id` or `msisdn` it is a special
    agreement, which may only be stricter than the standard."""

    clock: ClockKind
    target_minutes: JsonInt | None = Field(
        default=None, ge=1, le=525_600, description="calendar or working_hours"
    )
    target_days: JsonInt | None = Field(
        default=None, ge=1, le=366, description="working_days or shanghai_days"
    )
    basis: Basis
    channel: Channel | None = None
    category: Category | None = None
    partner_id: UUID | None = None
    msisdn: str | None = Field(default=None, pattern=MSISDN_PATTERN)
    pausable: StrictBool = True
    warn_at: list[float] = Field(default=[0.5, 0.8], max_length=5)
    note: SingleLineText | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _target_fits_basis(self) -> PolicyIn:
        in_days = self.basis in (Basis.WORKING_DAYS, Basis.SHANGHAI_DAYS)
        if in_days and (self.target_days is None or self.target_minutes is not None):
            raise ValueError(f"a {self.basis.value} policy takes target_days")
        if not in_days and (self.target_minutes is None or self.target_days is not None):
            raise ValueError(f"a {self.basis.value} policy takes target_minutes")
        if any(not 0 < share < 1 for share in self.warn_at):
            raise ValueError("warn_at shares are between 0 and 1")
        return self


class PolicyOut(BaseModel):
    id: UUID
    clock: ClockKind
    target_seconds: int
    basis: Basis
    channel: Channel | None
    category: Category | None
    partner_id: UUID | None
    msisdn: str | None
    pausable: bool
    warn_at: list[float]
    only_if_not_solved_on_call: bool
    special_agreement: bool
    note: str

    @classmethod
    def of(cls, p: Policy) -> PolicyOut:
        return cls(
            id=p.id,
            clock=p.clock,
            target_seconds=int(p.target.total_seconds()),
            basis=p.basis,
            channel=p.channel,
            category=p.category,
            partner_id=p.partner_id,
            msisdn=p.msisdn,
            pausable=p.pausable,
            warn_at=list(p.warn_at),
            only_if_not_solved_on_call=p.only_if_not_solved_on_call,
            special_agreement=p.is_special_agreement,
            note=p.note,
        )


class JobResult(BaseModel):
    job: str
    affected: int
