"""Rules of the incident service's records: how long they are kept, and legal holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

# The promise: every datum of an incident is kept at least 6 months. A shorter retention is
# refused at start-up (settings), so no configuration can break it.
MINIMUM_RETENTION = timedelta(days=183)


@dataclass(frozen=True)
class RecordHold:
    id: UUID
    incident_id: UUID | None
    window_id: UUID | None
    holder: str
    reason: str
    placed_at: datetime
    placed_by: str
    released_at: datetime | None
    released_by: str | None

    @property
    def in_force(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime
    incidents_deleted: int
    windows_deleted: int
    incidents_held: int  # old enough to go, kept by a hold
    windows_held: int


def retention_cutoff(now: datetime, retention: timedelta) -> datetime:
    """Records that ended before this may be deleted (when nothing holds them)."""
    if retention < MINIMUM_RETENTION:
        raise ValueError(f"records are kept at least {MINIMUM_RETENTION.days} days, not {retention.days}")
    return now - retention
