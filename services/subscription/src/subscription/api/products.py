"""Products (partner self-service) and the public catalogue (JSON, and a page for users)."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse

from subscription.api.deps import PartnerId, Products, SitePages
from subscription.schemas import (
    CatalogueEntryOut,
    DiscontinuationIn,
    DiscontinuationOut,
    ProductIn,
    ProductOut,
)
from subscription.service.products import (
    ProductCodeConflict,
    ProductCodeReserved,
    ProductNotDiscontinuable,
)
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.pages import Language

router = audience_router(Audience.PARTNER, prefix="/v1/products", tags=["products (partner)"])
operator_router = audience_router(
    Audience.OPERATOR, prefix="/v1/operator/products", tags=["products (operator)"]
)
catalogue_router = audience_router(Audience.PUBLIC, tags=["catalogue (public)"])


@router.post(
    "",
    status_code=201,
    response_model=ProductOut,
    responses=documented(ProductCodeConflict, ProductCodeReserved),
)
async def create_product(body: ProductIn, partner_id: PartnerId, products: Products) -> ProductOut:
    """A draft: it can be published once every disclosure a user must get is filled in."""
    return ProductOut.of(await products.create(partner_id, body.model_dump()))


@router.get("", response_model=list[ProductOut])
async def my_products(partner_id: PartnerId, products: Products) -> list[ProductOut]:
    return [ProductOut.of(p) for p in await products.of_partner(partner_id)]


@router.post("/{product_id}/publication", response_model=ProductOut)
async def publish_product(product_id: UUID, partner_id: PartnerId, products: Products) -> ProductOut:
    return ProductOut.of(await products.publish(product_id, partner_id))


@router.post(
    "/{product_id}/discontinuation",
    response_model=DiscontinuationOut,
    responses=documented(ProductNotDiscontinuable),
)
async def discontinue_product(
    product_id: UUID, body: DiscontinuationIn, partner_id: PartnerId, products: Products
) -> DiscontinuationOut:
    """At least 30 days' notice; every subscriber is told now, subscriptions end on the date."""
    product, notified = await products.schedule_discontinuation(
        product_id, body.effective_at, body.reason, partner_id
    )
    return DiscontinuationOut(product=ProductOut.of(product), subscribers_notified=notified)


@operator_router.post(
    "/{product_id}/discontinuation",
    response_model=DiscontinuationOut,
    responses=documented(ProductNotDiscontinuable),
)
async def discontinue_product_as_operator(
    product_id: UUID, body: DiscontinuationIn, products: Products
) -> DiscontinuationOut:
    product, notified = await products.schedule_discontinuation(
        product_id, body.effective_at, body.reason, None
    )
    return DiscontinuationOut(product=ProductOut.of(product), subscribers_notified=notified)


@catalogue_router.get("/v1/catalogue", response_model=list[CatalogueEntryOut])
async def catalogue(products: Products) -> list[CatalogueEntryOut]:
    """Every product on sale with its tariff and what a user must know before signing up."""
    return [CatalogueEntryOut.of(p) for p in await products.catalogue()]


@catalogue_router.get("/catalogue", response_class=HTMLResponse)
async def catalogue_page(request: Request, products: Products, pages: SitePages) -> HTMLResponse:
    """The catalogue as a page for users, in Chinese, on the suite's layout; no JavaScript."""
    entries = [CatalogueEntryOut.of(p) for p in await products.catalogue()]
    return pages.render(request, "catalogue.html", {"products": entries}, language=Language.ZH_CN)
