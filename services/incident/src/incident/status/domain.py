"""What the public status page publishes besides incidents and maintenance: the provider's
commitments (its promises, in the words published) and the services on sale with their tariffs
and scope, as the subscription catalogue announced them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Commitment:
    key: str
    position: int
    topic: str
    title: str
    promise: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class PublishedProduct:
    product_id: UUID
    product_code: str
    partner_id: UUID
    listing: dict[str, Any]  # vas_common.events.subscription.ProductListing, as JSON
    published_at: datetime
    discontinue_at: datetime | None
    discontinue_reason: str | None
    discontinued_at: datetime | None

    @property
    def on_sale(self) -> bool:
        return self.discontinued_at is None

    def text(self, field: str) -> str:
        return str(self.listing.get(field, ""))


# The service types the catalogue's billing types stand for, as the page names them.
SERVICE_TYPES = {
    "monthly": "包月订阅类短信业务",
    "per_message": "按条计费类短信业务",
}


def service_types(products: list[PublishedProduct]) -> list[tuple[str, int]]:
    """Each service type offered now, with how many products on sale are of it."""
    counts: dict[str, int] = {}
    for product in products:
        if product.on_sale:
            kind = product.text("billing_type")
            counts[kind] = counts.get(kind, 0) + 1
    return [(SERVICE_TYPES.get(kind, kind), n) for kind, n in sorted(counts.items())]
