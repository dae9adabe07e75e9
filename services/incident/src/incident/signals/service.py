"""Incidents opened and resolved by the health signals (sms.health).

- A failing check whose (check, subject) has no open fault opens one, and its incident with the
  evidence on the timeline, in one transaction; the unique index on open faults lets exactly one
  replica (or one delivery of a report) do so, and the others add to the open fault.
- A failing check on an open fault keeps its latest evidence and starts the hold-down again.
- A healthy check after the last failing one marks the fault healthy since then; the periodic
  tick (`resolve_healed`, on every replica) closes the faults healthy for the hold-down time and
  resolves their incident once no other fault holds it open: mitigated when the signal turned
  healthy, resolved now.
- A person resolving the incident closes its faults (a check still failing opens a new one);
  merging it moves its open faults to the incident that carries on.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from incident.incidents.domain import EntryKind, Incident, Origin
from incident.incidents.service import IncidentService, NewIncident
from incident.signals import domain
from incident.signals.domain import SIGNAL_ACTOR, Fault
from incident.signals.repository import FaultRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.events.sms_sender import HealthCheckResult, HealthReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignalRules:
    service: str = "sms-sender"  # the service the sms.health checks speak for
    hold_down_s: float = 300.0  # healthy this long before the incident is resolved
    max_report_age_s: float = 120.0  # older reports are history, not acted on


class SignalService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        incidents: IncidentService,
        rules: SignalRules,
        faults: FaultRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._incidents = incidents
        self._rules = rules
        self._faults = faults or FaultRepository()

    async def handle(self, report: HealthReport) -> None:
        for result in report.checks:
            if domain.known_check(result) is None:
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                if result.failing:
                    await self._failing(conn, report, result)
                else:
                    await self._faults.healthy(conn, result.check, result.subject, report.observed_at)

    async def _failing(self, conn: DbConnection, report: HealthReport, result: HealthCheckResult) -> None:
        now = self._clock.now()
        last = await self._faults.last_closed_failing(conn, result.check, result.subject)
        if domain.stale(report.observed_at, now, timedelta(seconds=self._rules.max_report_age_s), last):
            return
        evidence = domain.evidence(report, result)
        if await self._faults.failing(
            conn, result.check, result.subject, report.observed_at, evidence, report.instance_id
        ):
            return
        started, detected = domain.impact_times(report, result, now)
        fault = Fault(
            id=uuid.uuid4(),
            check=result.check,
            subject=result.subject,
            incident_id=uuid.uuid4(),
            started_at=started,
            opened_at=now,
            last_failing_at=report.observed_at,
            healthy_since=None,
            closed_at=None,
            evidence=evidence,
            reporters=(report.instance_id,),
        )
        if not await self._faults.open(conn, fault):
            # Another replica (or this report, delivered before) opened it meanwhile.
            await self._faults.failing(
                conn, result.check, result.subject, report.observed_at, evidence, report.instance_id
            )
            return
        check = domain.known_check(result)
        assert check is not None
        kind = domain.KINDS[check]
        await self._incidents.open_in(
            conn,
            NewIncident(
                title=domain.title(check, result),
                services=(self._rules.service,),
                severity=kind.severity,
                impact=kind.impact,
                summary=domain.evidence_text(report, result),
                impact_started_at=started,
                detected_at=detected,
            ),
            SIGNAL_ACTOR,
            Origin.SIGNAL,
            incident_id=fault.incident_id,
            entries=[(EntryKind.EVIDENCE, domain.evidence_text(report, result), evidence)],
        )
        logger.warning(
            "incident %s opened: %s failing on %s", fault.incident_id, result.check, result.subject
        )

    async def resolve_healed(self) -> int:
        """Close the faults healthy for the hold-down time and resolve their incidents; returns
        how many faults were closed. Runs on every replica; a fault is taken by one of them."""
        now = self._clock.now()
        hold_down = timedelta(seconds=self._rules.hold_down_s)
        async with self._pool.acquire() as conn, conn.transaction():
            faults = [
                f
                for f in await self._faults.healed(conn, now - hold_down, 100)
                if domain.healed(f, now, hold_down)
            ]
            for fault in faults:
                await self._close(conn, fault, now)
        return len(faults)

    async def _close(self, conn: DbConnection, fault: Fault, now: datetime) -> None:
        assert fault.healthy_since is not None
        await self._faults.close(conn, fault.id, now)
        text = (
            f"{fault.check} on {fault.subject} healthy since {fault.healthy_since.isoformat()} "
            f"({self._rules.hold_down_s:g} s hold-down)"
        )
        await self._incidents.add_entries_in(
            conn,
            [
                self._incidents.entry(
                    fault.incident_id,
                    EntryKind.SIGNAL_HEALTHY,
                    fault.healthy_since,
                    SIGNAL_ACTOR,
                    text,
                    {
                        "check": fault.check,
                        "subject": fault.subject,
                        "healthy_since": fault.healthy_since.isoformat(),
                    },
                )
            ],
        )
        incident = await self._incidents.get_in(conn, fault.incident_id, for_update=True)
        if incident is None or not incident.is_open or await self._faults.open_count(conn, incident.id):
            return
        mitigated = max(fault.healthy_since, incident.impact_started_at)
        await self._incidents.resolve_in(
            conn, incident.id, SIGNAL_ACTOR, at=now, mitigated_at=mitigated, note=text
        )
        logger.info("incident %s resolved: %s healthy again on %s", incident.id, fault.check, fault.subject)

    async def after_change(
        self, conn: DbConnection, before: Incident | None, after: Incident, now: datetime
    ) -> None:
        """An incident changed (incident.incidents' hook): resolved by hand closes its faults,
        merged away moves them to the incident that carries on."""
        if after.merged_into is not None:
            await self._faults.move(conn, after.id, after.merged_into)
        elif before is not None and before.is_open and not after.is_open:
            await self._faults.close_for_incident(conn, after.id, now)
