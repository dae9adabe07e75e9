"""Incident rules (incident.incidents.domain): times, status, edits, merge, the regulator duty."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from incident.incidents.domain import (
    Changes,
    ImpactType,
    Incident,
    IncidentStatus,
    Origin,
    Severity,
    edited,
    merged,
    resolved,
    status_of,
    time_problems,
)

NOW = datetime(2026, 11, 20, 8, tzinfo=UTC)


def incident(**fields: object) -> Incident:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "title": "t",
        "summary": "",
        "severity": Severity.MAJOR,
        "impact": ImpactType.FULL,
        "status": IncidentStatus.OPEN,
        "origin": Origin.MANUAL,
        "services": ("sms-sender",),
        "products": (),
        "impact_started_at": NOW - timedelta(hours=1),
        "detected_at": NOW - timedelta(minutes=50),
        "reported_at": None,
        "mitigated_at": None,
        "resolved_at": None,
        "commander": None,
        "communications": None,
        "merged_into": None,
        "created_by": "x",
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Incident(**values)  # type: ignore[arg-type]


def test_only_a_major_outage_carries_the_regulator_duty() -> None:
    assert incident(severity=Severity.MAJOR_OUTAGE).regulator_duty
    assert not any(incident(severity=s).regulator_duty for s in Severity if s is not Severity.MAJOR_OUTAGE)


def test_times_must_follow_each_other_and_not_lie_ahead() -> None:
    assert time_problems(incident(), NOW) == []
    bad = incident(
        detected_at=NOW - timedelta(hours=2),
        mitigated_at=NOW - timedelta(minutes=5),
        resolved_at=NOW - timedelta(minutes=10),
        reported_at=NOW + timedelta(hours=1),
    )
    assert time_problems(bad, NOW) == [
        "reported_at is in the future",
        "detected_at is before impact_started_at",
        "resolved_at is before mitigated_at",
    ]


def test_status_follows_the_times_and_the_merge() -> None:
    assert status_of(incident()) is IncidentStatus.OPEN
    assert status_of(incident(mitigated_at=NOW)) is IncidentStatus.MITIGATED
    assert status_of(incident(mitigated_at=NOW, resolved_at=NOW)) is IncidentStatus.RESOLVED
    assert status_of(incident(merged_into=uuid.uuid4())) is IncidentStatus.MERGED


def test_an_edit_changes_only_what_was_given_and_says_what_changed() -> None:
    before = incident()
    assert edited(before, Changes(given=frozenset({"title"}), title="t"), NOW) is None
    result = edited(
        before, Changes(given=frozenset({"title", "mitigated_at"}), title="新", mitigated_at=NOW), NOW
    )
    assert result is not None
    after, diff = result
    assert after.status is IncidentStatus.MITIGATED
    assert diff == {"title": ["t", "新"], "mitigated_at": [None, NOW.isoformat()]}
    # a required field sent as null keeps its value
    assert edited(before, Changes(given=frozenset({"detected_at"}), detected_at=None), NOW) is None


def test_resolving_records_when_the_impact_ended() -> None:
    done = resolved(incident(), NOW, None, NOW)
    assert done.mitigated_at == NOW
    assert done.status is IncidentStatus.RESOLVED
    earlier = resolved(incident(mitigated_at=NOW - timedelta(minutes=30)), NOW, None, NOW)
    assert earlier.mitigated_at == NOW - timedelta(minutes=30)


def test_the_survivor_of_a_merge_covers_both() -> None:
    survivor = incident(severity=Severity.MINOR)
    duplicate = incident(
        severity=Severity.CRITICAL,
        services=("subscription", "sms-sender"),
        products=("NEWS",),
        impact_started_at=NOW - timedelta(hours=3),
    )
    gone, carries = merged(duplicate, survivor, NOW)
    assert gone.merged_into == survivor.id
    assert gone.status is IncidentStatus.MERGED
    assert carries.services == ("sms-sender", "subscription")
    assert carries.products == ("NEWS",)
    assert carries.severity is Severity.CRITICAL
    assert carries.impact_started_at == NOW - timedelta(hours=3)
