"""Subscriptions: started by the partner (double confirmation by SMS follows), cancelled by the
partner or the operator; the operator's view of a user."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from subscription.api.deps import PartnerId, Products, Subscriptions, require_operator
from subscription.schemas import RegistrationSuccessOut, SubscriptionIn, SubscriptionOut, SuspensionIn
from vas_common.errors import ValidationFailed
from vas_common.msisdn import normalize_msisdn
from vas_common.types import Instant

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions (partner)"])
operator_router = APIRouter(prefix="/v1", tags=["users (operator)"], dependencies=[Depends(require_operator)])


class InvalidMsisdn(ValidationFailed):
    code = "invalid_msisdn"
    title = "Not a mainland China mobile number"


def _msisdn(raw: str) -> str:
    number = normalize_msisdn(raw)
    if number is None:
        raise InvalidMsisdn(f"{raw!r} is not a mainland China mobile number")
    return number


@router.post("", status_code=202, response_model=SubscriptionOut)
async def request_subscription(
    body: SubscriptionIn, partner_id: PartnerId, subs: Subscriptions
) -> SubscriptionOut:
    """Pending until the user replies Y to the confirmation SMS (24 h); only then billed or sent content."""
    sub = await subs.request(
        _msisdn(body.msisdn), body.product_code.upper(), "partner_api", partner_id=partner_id
    )
    return SubscriptionOut.of(sub)


@router.get("/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(
    subscription_id: UUID, partner_id: PartnerId, subs: Subscriptions
) -> SubscriptionOut:
    return SubscriptionOut.of(await subs.get(subscription_id, partner_id))


@router.delete("/{subscription_id}", response_model=SubscriptionOut)
async def cancel_subscription(
    subscription_id: UUID, partner_id: PartnerId, subs: Subscriptions
) -> SubscriptionOut:
    return SubscriptionOut.of(await subs.cancel(subscription_id, "partner_api", partner_id=partner_id))


@operator_router.get("/users/{msisdn}/subscriptions", response_model=list[SubscriptionOut])
async def user_subscriptions(msisdn: str, subs: Subscriptions) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(s) for s in await subs.of_user(_msisdn(msisdn))]


@operator_router.delete("/users/{msisdn}/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def operator_cancel(msisdn: str, subscription_id: UUID, subs: Subscriptions) -> SubscriptionOut:
    return SubscriptionOut.of(await subs.cancel(subscription_id, "operator_api"))


@operator_router.post("/users/{msisdn}/suspensions", status_code=202)
async def suspend_user(msisdn: str, body: SuspensionIn, products: Products) -> dict[str, int | str]:
    """At least 24 hours' notice by SMS; the user's subscriptions are suspended on the date."""
    affected = await products.schedule_suspension(_msisdn(msisdn), body.effective_at, body.reason)
    return {"status": "scheduled", "active_subscriptions": affected}


@operator_router.get("/registration-success", response_model=RegistrationSuccessOut)
async def registration_success(
    subs: Subscriptions,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> RegistrationSuccessOut:
    since, until, figure = await subs.registration_success(since, until)
    return RegistrationSuccessOut(since=since, until=until, met=figure["rate"] >= 0.999, **figure)
