"""Event contracts, one module per producing service, and one decoder for any of them."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from vas_common.events import (
    complaints,
    incident,
    incident_maintenance,
    incident_regulator,
    sms_requests,
    sms_sender,
    subscription,
)
from vas_common.events.envelope import Event, Payload, utcnow

_ALL_EVENT_TYPES: tuple[type[Event], ...] = (
    *subscription.EVENTS,
    *sms_sender.EVENTS,
    *sms_requests.EVENTS,
    *complaints.EVENTS,
    *incident.EVENTS,
    *incident_maintenance.EVENTS,
    *incident_regulator.EVENTS,
)

AnyEvent = Annotated[Union[_ALL_EVENT_TYPES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


@cache
def _adapter() -> TypeAdapter[Any]:
    return TypeAdapter(AnyEvent)


class UnknownEvent(ValueError):
    """The record is not an event this version of the suite knows how to read."""


def decode_event(raw: bytes | str) -> Event:
    from pydantic import ValidationError

    try:
        event = _adapter().validate_json(raw)
    except ValidationError as exc:
        raise UnknownEvent(str(exc)) from exc
    assert isinstance(event, Event)
    return event


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()


def events_json_schema() -> dict[str, Any]:
    """The JSON schema of every event, for the compatibility snapshot."""
    schema: dict[str, Any] = _adapter().json_schema(mode="validation")
    return schema


__all__ = [
    "AnyEvent",
    "Event",
    "Payload",
    "UnknownEvent",
    "decode_event",
    "encode_event",
    "events_json_schema",
    "utcnow",
]
