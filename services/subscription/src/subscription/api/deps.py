"""Dependencies shared by the endpoints: who is calling, and the use cases from app.state."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Request

from subscription.service.billing import BillingService
from subscription.service.partners import PartnerService
from subscription.service.products import ProductService
from subscription.service.records import RecordsService
from subscription.service.subscriptions import SubscriptionService
from vas_common.access import principal
from vas_common.app import app_state
from vas_common.auth import AuthenticatedPartner, authenticate_partner
from vas_common.msisdn import MSISDN_PATTERN, normalized_msisdn
from vas_common.pages import Pages


async def partner_service(request: Request) -> PartnerService:
    return app_state(request, "partner_service", PartnerService)


async def product_service(request: Request) -> ProductService:
    return app_state(request, "product_service", ProductService)


async def subscription_service(request: Request) -> SubscriptionService:
    return app_state(request, "subscription_service", SubscriptionService)


async def billing_service(request: Request) -> BillingService:
    return app_state(request, "billing_service", BillingService)


async def records_service(request: Request) -> RecordsService:
    return app_state(request, "records_service", RecordsService)


async def site_pages(request: Request) -> Pages:
    return app_state(request, "pages", Pages)


async def path_msisdn(
    msisdn: Annotated[
        str, Path(pattern=MSISDN_PATTERN, description="The user's mobile number, +86 optional")
    ],
) -> str:
    return normalized_msisdn(msisdn)


async def authenticate_partner_key(request: Request) -> AuthenticatedPartner:
    """The partner authenticator of the subscription service (vas_common.access)."""
    service = await partner_service(request)
    return await authenticate_partner(request, service.authenticate)


async def current_partner(request: Request) -> AuthenticatedPartner:
    return principal(request, AuthenticatedPartner)


async def current_partner_id(partner: Annotated[AuthenticatedPartner, Depends(current_partner)]) -> UUID:
    return UUID(partner.partner_id)


Partners = Annotated[PartnerService, Depends(partner_service)]
Products = Annotated[ProductService, Depends(product_service)]
Subscriptions = Annotated[SubscriptionService, Depends(subscription_service)]
Billing = Annotated[BillingService, Depends(billing_service)]
Records = Annotated[RecordsService, Depends(records_service)]
SitePages = Annotated[Pages, Depends(site_pages)]
PartnerId = Annotated[UUID, Depends(current_partner_id)]
UserMsisdn = Annotated[str, Depends(path_msisdn)]  # the path's number, as stored (86…)
