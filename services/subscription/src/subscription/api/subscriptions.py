"""Subscriptions: started by the partner (double confirmation by SMS follows), cancelled by the
partner or the operator; the operator's view of a user."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from subscription.api.deps import PartnerId, Products, Subscriptions, UserMsisdn
from subscription.schemas import RegistrationSuccessOut, SubscriptionIn, SubscriptionOut, SuspensionIn
from subscription.service.subscriptions import ProductNotFound, SubscriptionExists
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.msisdn import normalized_msisdn
from vas_common.types import Instant

router = audience_router(Audience.PARTNER, prefix="/v1/subscriptions", tags=["subscriptions (partner)"])
operator_router = audience_router(Audience.OPERATOR, prefix="/v1", tags=["users (operator)"])


@router.post(
    "",
    status_code=202,
    response_model=SubscriptionOut,
    responses=documented(SubscriptionExists, ProductNotFound),
)
async def request_subscription(
    body: SubscriptionIn, partner_id: PartnerId, subs: Subscriptions
) -> SubscriptionOut:
    """Pending until the user replies Y to the confirmation SMS (24 h); only then billed or sent content."""
    sub = await subs.request(
        normalized_msisdn(body.msisdn), body.product_code.upper(), "partner_api", partner_id=partner_id
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
async def user_subscriptions(msisdn: UserMsisdn, subs: Subscriptions) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(s) for s in await subs.of_user(msisdn)]


@operator_router.delete("/users/{msisdn}/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def operator_cancel(msisdn: UserMsisdn, subscription_id: UUID, subs: Subscriptions) -> SubscriptionOut:
    return SubscriptionOut.of(await subs.cancel(subscription_id, "operator_api", msisdn=msisdn))


@operator_router.post("/users/{msisdn}/suspensions", status_code=202)
async def suspend_user(msisdn: UserMsisdn, body: SuspensionIn, products: Products) -> dict[str, int | str]:
    """At least 24 hours' notice by SMS; the user's subscriptions are suspended on the date."""
    affected = await products.schedule_suspension(msisdn, body.effective_at, body.reason)
    return {"status": "scheduled", "active_subscriptions": affected}


@operator_router.get("/registration-success", response_model=RegistrationSuccessOut)
async def registration_success(
    subs: Subscriptions,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> RegistrationSuccessOut:
    found = await subs.registration_success(since, until)
    return RegistrationSuccessOut(
        since=found.since,
        until=found.until,
        attempts=found.attempts,
        failed_by_reason=found.failed_by_reason,
        rate=found.rate,
        met=found.rate >= RegistrationSuccessOut.model_fields["promise"].default,
        **found.orders,
    )
