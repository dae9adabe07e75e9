"""Bodies of the status API (public JSON; the commitments' admin endpoint)."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field

from incident.status.domain import Commitment, PublishedProduct, service_types
from incident.status.service import Published
from vas_common.types import MultiLineText, SingleLineText


class CommitmentOut(BaseModel):
    key: str
    topic: str
    title: str
    promise: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, c: Commitment) -> Self:
        return cls(
            key=c.key,
            topic=c.topic,
            title=c.title,
            promise=c.promise,
            updated_at=c.updated_at,
            updated_by=c.updated_by,
        )


class CommitmentIn(BaseModel):
    title: SingleLineText = Field(min_length=1, max_length=100)
    promise: MultiLineText = Field(min_length=1, max_length=1000)


class ProductOut(BaseModel):
    """A service on sale as the catalogue announced it: what it is, its tariff and scope."""

    code: str
    name: str
    provider: str
    price: str = Field(description="As users are told it, e.g. 5元/月")
    billing_type: str
    description: str
    scope: str = Field(description="Where and to whom it is offered (the catalogue's availability)")
    charge_rule: str
    month_rules: str
    how_to_cancel: str
    fault_hotline: str
    consult_hotline: str
    discontinue_at: datetime | None = Field(description="The announced end, if any")
    discontinued_at: datetime | None

    @classmethod
    def of(cls, p: PublishedProduct) -> Self:
        return cls(
            code=p.product_code,
            name=p.text("name"),
            provider=p.text("provider"),
            price=p.text("price"),
            billing_type=p.text("billing_type"),
            description=p.text("description"),
            scope=p.text("availability"),
            charge_rule=p.text("charge_rule"),
            month_rules=p.text("month_rules"),
            how_to_cancel=p.text("how_to_cancel"),
            fault_hotline=p.text("fault_hotline"),
            consult_hotline=p.text("consult_hotline"),
            discontinue_at=p.discontinue_at,
            discontinued_at=p.discontinued_at,
        )


class ServiceTypeOut(BaseModel):
    name: str
    products_on_sale: int


class PublishedOut(BaseModel):
    """The provider's published commitments, service types, and the tariffs and scope of each
    service on sale (from the subscription catalogue)."""

    commitments: list[CommitmentOut]
    service_types: list[ServiceTypeOut]
    products: list[ProductOut]

    @classmethod
    def of(cls, published: Published) -> Self:
        return cls(
            commitments=[CommitmentOut.of(c) for c in published.commitments],
            service_types=[
                ServiceTypeOut(name=n, products_on_sale=k) for n, k in service_types(published.products)
            ],
            products=[ProductOut.of(p) for p in published.products],
        )
