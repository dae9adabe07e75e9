"""Event contracts: the JSON-schema snapshot fails CI on a breaking change."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from vas_common.events import UnknownEvent, decode_event, encode_event, events_json_schema
from vas_common.events.compat import breaking_changes
from vas_common.events.subscription import PartnerCreated, PartnerState, PartnerStatus

SNAPSHOT = Path(__file__).parent / "snapshots" / "events.schema.json"


def _partner_state() -> PartnerState:
    return PartnerState(
        partner_id=uuid4(),
        name="cp",
        status=PartnerStatus.ACTIVE,
        api_key_id="ab12",
        api_key_sha256="0" * 64,
        revision=1,
        updated_at=datetime.now(UTC),
    )


def test_no_breaking_change_against_snapshot() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    problems = breaking_changes(snapshot, events_json_schema())
    assert problems == [], "breaking event contract change:\n" + "\n".join(problems)


def test_snapshot_is_current() -> None:
    current = json.dumps(events_json_schema(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.read_text() == current, (
        "event schemas changed compatibly; refresh the snapshot with `make snapshots` and commit it"
    )


def test_round_trip_through_the_union() -> None:
    event = PartnerCreated(payload=_partner_state())
    decoded = decode_event(encode_event(event))
    assert isinstance(decoded, PartnerCreated)
    assert decoded == event


def test_unknown_type_and_garbage_are_rejected() -> None:
    with pytest.raises(UnknownEvent):
        decode_event(b'{"type": "nobody.knows", "producer": "x", "payload": {}}')
    with pytest.raises(UnknownEvent):
        decode_event(b"\x00not json")


def test_consumer_tolerates_unknown_optional_fields() -> None:
    raw = json.loads(encode_event(PartnerCreated(payload=_partner_state())))
    raw["payload"]["added_later"] = "x"
    raw["also_new"] = 1
    assert isinstance(decode_event(json.dumps(raw)), PartnerCreated)


class TestCompatChecker:
    def schema(self) -> dict[str, object]:
        return copy.deepcopy(events_json_schema())

    def payload_def(self, schema: dict[str, object]) -> dict[str, object]:
        return schema["$defs"]["PartnerState"]  # type: ignore[index, no-any-return]

    def test_identical_is_compatible(self) -> None:
        assert breaking_changes(self.schema(), self.schema()) == []

    def test_removed_field_is_breaking(self) -> None:
        new = self.schema()
        del self.payload_def(new)["properties"]["name"]  # type: ignore[attr-defined]
        assert any("payload.name: removed" in p for p in breaking_changes(self.schema(), new))

    def test_new_required_field_is_breaking_but_optional_is_not(self) -> None:
        new = self.schema()
        self.payload_def(new)["properties"]["tier"] = {"type": "string"}  # type: ignore[index]
        assert breaking_changes(self.schema(), new) == []
        self.payload_def(new)["required"].append("tier")  # type: ignore[attr-defined]
        assert any("tier: newly required" in p for p in breaking_changes(self.schema(), new))

    def test_type_change_and_enum_change_are_breaking(self) -> None:
        new = self.schema()
        self.payload_def(new)["properties"]["revision"] = {"type": "string"}  # type: ignore[index]
        new["$defs"]["PartnerStatus"]["enum"].append("banned")  # type: ignore[index]
        problems = breaking_changes(self.schema(), new)
        assert any("revision: type changed" in p for p in problems)
        assert any("status: type changed" in p for p in problems)

    def test_removed_event_type_is_breaking(self) -> None:
        new = self.schema()
        del new["discriminator"]["mapping"]["partner.created"]  # type: ignore[index]
        assert "partner.created: event type removed" in breaking_changes(self.schema(), new)
