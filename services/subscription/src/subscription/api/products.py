"""Products (partner self-service) and the public catalogue (JSON and a plain HTML page)."""

from __future__ import annotations

import html
from uuid import UUID

from fastapi.responses import HTMLResponse

from subscription.api.deps import PartnerId, Products
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


_FIELDS = (
    ("提供方 Provider", "provider"),
    ("资费 Price", "price"),
    ("业务功能 What it does", "description"),
    ("适用范围 Where", "availability"),
    ("退订方式 How to cancel", "how_to_cancel"),
    ("收费规则 Charging", "charge_rule"),
    ("首月与退订当月 First and last month", "month_rules"),
    ("故障电话 Fault hotline", "fault_hotline"),
    ("咨询电话 Consultation", "consult_hotline"),
)


@catalogue_router.get("/catalogue", response_class=HTMLResponse)
async def catalogue_page(products: Products) -> HTMLResponse:
    sections = []
    for product in (CatalogueEntryOut.of(p) for p in await products.catalogue()):
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(getattr(product, field)))}</td></tr>"
            for label, field in _FIELDS
        )
        notice = (
            f"<p class='notice'>停止服务日期 Ends on {html.escape(product.discontinue_on)}</p>"
            if product.discontinue_on
            else ""
        )
        sections.append(
            f"<section><h2>{html.escape(product.name)} <small>短信代码 {html.escape(product.code)}</small></h2>"
            f"{notice}<table>{rows}</table></section>"
        )
    body = "".join(sections) or "<p>暂无在售业务 No products on sale.</p>"
    return HTMLResponse(
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>业务目录 Catalogue</title>"
        "<style>body{font-family:sans-serif;max-width:48rem;margin:auto}th{text-align:left;padding-right:1rem}"
        ".notice{color:#a00}</style></head><body><h1>业务与资费 Products and tariffs</h1>"
        f"{body}</body></html>"
    )
