"""The envelope every event on Kafka carries: who produced what, when, and a unique id for dedup."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    # Consumers ignore fields they do not know yet, so a producer may add optional fields.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(BaseModel):
    """Base envelope. Subclasses pin `type` to a Literal and give `payload` its model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    producer: str
    payload: Payload

    def key(self) -> str:
        """The Kafka key: records of one entity stay on one partition, in order."""
        raise NotImplementedError
