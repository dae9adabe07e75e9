"""Service quality SQL, one module per use: the consumers' watermarks and the roll-ups
(`rollups`), the per-order and per-unsubscription rows and the records kept (`orders`)."""

from incident.quality.repository.orders import OrderRepository
from incident.quality.repository.rollups import QualityRepository

__all__ = ["OrderRepository", "QualityRepository"]
