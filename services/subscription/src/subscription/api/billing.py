"""Billing (operator): the monthly fee run, refunds, and a user's charges for fee queries."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from subscription.api.deps import Billing, UserMsisdn
from subscription.schemas import (
    BillingRunIn,
    BillingRunOut,
    ChargeOut,
    Period,
    RefundIn,
    UserChargesOut,
)
from vas_common.access import Audience, audience_router

router = audience_router(Audience.OPERATOR, prefix="/v1", tags=["billing (operator)"])


@router.post("/billing/runs", response_model=BillingRunOut)
async def run_billing(body: BillingRunIn, billing: Billing) -> BillingRunOut:
    """Charge every user the fee of each monthly product for the month, once per user, product and
    month even after cancelling and re-subscribing. Re-running it, or running it on two replicas at
    once, never charges twice."""
    run = await billing.run_monthly(body.period)
    return BillingRunOut(
        period=run.period, charged=run.charged, amount_fen=run.amount_fen, already_charged=run.already_charged
    )


@router.post("/charges/{charge_id}/refunds", status_code=201, response_model=ChargeOut)
async def refund_charge(charge_id: UUID, body: RefundIn, billing: Billing) -> ChargeOut:
    """A refund is a negative charge; the refunds of a charge may not exceed it."""
    return ChargeOut.of(await billing.refund(charge_id, body.amount_fen, body.reason))


@router.get("/users/{msisdn}/charges", response_model=UserChargesOut)
async def user_charges(
    msisdn: UserMsisdn,
    billing: Billing,
    month: Annotated[Period | None, Query(description="YYYY-MM; default: this month")] = None,
) -> UserChargesOut:
    """What the user was charged (and refunded) in a month, with the total."""
    found = await billing.charges_of(msisdn, month)
    return UserChargesOut(
        msisdn=found.msisdn,
        month=found.month,
        charges=[ChargeOut.of(c) for c in found.charges],
        total_fen=found.total_fen,
    )
