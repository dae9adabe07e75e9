"""Incident SQL: incidents and their timelines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from incident.incidents.domain import (
    EntryKind,
    ImpactType,
    Incident,
    IncidentStatus,
    Origin,
    Severity,
    TimelineEntry,
)
from vas_common.db import DbConnection

_COLUMNS = """
id, seq, title, summary, severity, impact, status, origin, services, products, impact_started_at,
detected_at, reported_at, mitigated_at, resolved_at, commander, communications, merged_into,
created_by, created_at, updated_at
"""
_ENTRY_COLUMNS = "id, incident_id, kind, at, recorded_at, actor, text, public, detail"


def _incident(row: asyncpg.Record) -> Incident:
    values = dict(row)
    values["severity"] = Severity(values["severity"])
    values["impact"] = ImpactType(values["impact"])
    values["status"] = IncidentStatus(values["status"])
    values["origin"] = Origin(values["origin"])
    values["services"] = tuple(values["services"])
    values["products"] = tuple(values["products"])
    return Incident(**values)


def _entry(row: asyncpg.Record) -> TimelineEntry:
    values = {k: row[k] for k in _ENTRY_COLUMNS.split(", ")}
    values["kind"] = EntryKind(values["kind"])
    detail = values["detail"]
    values["detail"] = json.loads(detail) if isinstance(detail, str) else detail
    return TimelineEntry(**values)


class IncidentRepository:
    async def insert(self, conn: DbConnection, i: Incident) -> Incident:
        row = await conn.fetchrow(
            f"""
            INSERT INTO incidents ({_COLUMNS.replace("seq, ", "")})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
            RETURNING {_COLUMNS}
            """,
            i.id,
            i.title,
            i.summary,
            i.severity.value,
            i.impact.value,
            i.status.value,
            i.origin.value,
            list(i.services),
            list(i.products),
            i.impact_started_at,
            i.detected_at,
            i.reported_at,
            i.mitigated_at,
            i.resolved_at,
            i.commander,
            i.communications,
            i.merged_into,
            i.created_by,
            i.created_at,
            i.updated_at,
        )
        assert row is not None
        return _incident(row)

    async def get(
        self, conn: DbConnection, incident_id: UUID, *, for_update: bool = False
    ) -> Incident | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1{lock}", incident_id)
        return _incident(row) if row else None

    async def many_for_update(self, conn: DbConnection, ids: Sequence[UUID]) -> list[Incident]:
        """Locked in id order, so two merges of the same pair never deadlock."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM incidents WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", list(ids)
        )
        return [_incident(r) for r in rows]

    async def update(self, conn: DbConnection, i: Incident) -> None:
        await conn.execute(
            """
            UPDATE incidents SET title = $2, summary = $3, severity = $4, impact = $5, status = $6,
                   services = $7, products = $8, impact_started_at = $9, detected_at = $10,
                   reported_at = $11, mitigated_at = $12, resolved_at = $13, commander = $14,
                   communications = $15, merged_into = $16, updated_at = $17
             WHERE id = $1
            """,
            i.id,
            i.title,
            i.summary,
            i.severity.value,
            i.impact.value,
            i.status.value,
            list(i.services),
            list(i.products),
            i.impact_started_at,
            i.detected_at,
            i.reported_at,
            i.mitigated_at,
            i.resolved_at,
            i.commander,
            i.communications,
            i.merged_into,
            i.updated_at,
        )

    async def page(
        self,
        conn: DbConnection,
        *,
        before_seq: int | None,
        limit: int,
        statuses: Sequence[IncidentStatus] | None = None,
        service: str | None = None,
    ) -> list[Incident]:
        """Newest first, from before `before_seq`."""
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM incidents
             WHERE ($1::bigint IS NULL OR seq < $1)
               AND ($2::text[] IS NULL OR status = ANY($2::text[]))
               AND ($3::text IS NULL OR services @> ARRAY[$3::text])
             ORDER BY seq DESC LIMIT $4
            """,
            before_seq,
            [s.value for s in statuses] if statuses else None,
            service,
            limit,
        )
        return [_incident(r) for r in rows]

    async def impacting(
        self, conn: DbConnection, service: str, start: datetime, end: datetime
    ) -> list[Incident]:
        """Incidents (not merged away) of `service` whose impact or resolution touches [start, end)."""
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM incidents
             WHERE services @> ARRAY[$1::text] AND status <> 'merged' AND impact_started_at < $3
               AND (coalesce(resolved_at, mitigated_at) IS NULL
                    OR greatest(resolved_at, mitigated_at) >= $2)
             ORDER BY impact_started_at, id
            """,
            service,
            start,
            end,
        )
        return [_incident(r) for r in rows]

    async def touching(self, conn: DbConnection, since: datetime, limit: int) -> list[Incident]:
        """Incidents (not merged away) of any service not resolved yet (also those mitigated long
        ago), or whose impact end or resolution came at or after `since`; the latest impact first."""
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM incidents
             WHERE status <> 'merged' AND (resolved_at IS NULL OR greatest(resolved_at, mitigated_at) >= $1)
             ORDER BY impact_started_at DESC, id LIMIT $2
            """,
            since,
            limit,
        )
        return [_incident(r) for r in rows]

    async def public_entries(
        self, conn: DbConnection, incident_ids: Sequence[UUID]
    ) -> list[tuple[UUID, TimelineEntry]]:
        """The public status updates of each incident and of those merged into it (at any
        depth), each with the incident of `incident_ids` it belongs to."""
        rows = await conn.fetch(
            f"""
            WITH RECURSIVE tree(root, id) AS (
                SELECT id, id FROM unnest($1::uuid[]) AS id
                UNION ALL
                SELECT t.root, i.id FROM incidents i JOIN tree t ON i.merged_into = t.id
            )
            SELECT t.root, {", ".join("e." + c for c in _ENTRY_COLUMNS.split(", "))}
              FROM tree t JOIN incident_timeline e ON e.incident_id = t.id
             WHERE e.public AND e.kind = 'status_update'
             ORDER BY e.at, e.recorded_at, e.id
            """,
            list(incident_ids),
        )
        return [(r["root"], _entry(r)) for r in rows]

    async def service_key(self, conn: DbConnection, name: str) -> bytes:
        key: bytes | None = await conn.fetchval("SELECT value FROM service_keys WHERE name = $1", name)
        if key is None:
            raise LookupError(f"no service key {name!r}: are the migrations applied?")
        return key

    # -- timeline -------------------------------------------------------------------------

    async def add_entries(self, conn: DbConnection, entries: Sequence[TimelineEntry]) -> None:
        await conn.executemany(
            f"INSERT INTO incident_timeline ({_ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
            [
                (
                    e.id,
                    e.incident_id,
                    e.kind.value,
                    e.at,
                    e.recorded_at,
                    e.actor,
                    e.text,
                    e.public,
                    json.dumps(e.detail or {}, default=str),
                )
                for e in entries
            ],
        )

    async def timeline(self, conn: DbConnection, incident_ids: Sequence[UUID]) -> list[TimelineEntry]:
        rows = await conn.fetch(
            f"""
            SELECT {_ENTRY_COLUMNS} FROM incident_timeline WHERE incident_id = ANY($1::uuid[])
             ORDER BY at, recorded_at, id
            """,
            list(incident_ids),
        )
        return [_entry(r) for r in rows]

    async def merged_into(self, conn: DbConnection, survivor: UUID) -> list[UUID]:
        """Every incident merged into `survivor`, also through incidents merged into those."""
        rows = await conn.fetch(
            """
            WITH RECURSIVE gone(id) AS (
                SELECT id FROM incidents WHERE merged_into = $1
                UNION SELECT i.id FROM incidents i JOIN gone g ON i.merged_into = g.id
            )
            SELECT id FROM gone
            """,
            survivor,
        )
        return [r["id"] for r in rows]
