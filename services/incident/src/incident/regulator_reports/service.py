"""Regulator report use cases: a report follows its incident (created when it gains the regulator
duty, inside the incident's own transaction); staff mark its stages sent and write its cause and
actions; the tick raises warnings and overdue alerts once each and refreshes the gauges; the
rules are changed by administrators; sms.status feeds the impact figures."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from incident.incidents.domain import Incident
from incident.incidents.service import IncidentService, IncidentView
from incident.regulator_reports import domain
from incident.regulator_reports.domain import (
    Alert,
    ImpactFigures,
    Refusal,
    Report,
    ReportState,
    Rule,
    Stage,
    Subject,
)
from incident.regulator_reports.errors import (
    FirstReportNotSent,
    IncidentNotResolved,
    RegulatorReportNotFound,
    RegulatorReportWithdrawn,
    RegulatorRuleInvalid,
    RegulatorRuleNotFound,
    SentTimeInvalid,
)
from incident.regulator_reports.repository import RegulatorReportRepository
from vas_common.clock import Clock
from vas_common.db import DbConnection
from vas_common.events.incident_regulator import (
    RegulatorReportAlert,
    RegulatorReportDueSoon,
    RegulatorReportOverdue,
)
from vas_common.events.sms_sender import MessageState, MessageStatus
from vas_common.events.topics import INCIDENT_EVENTS
from vas_common.outbox import OutboxRepository

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
_REFUSALS = {
    Refusal.WITHDRAWN: RegulatorReportWithdrawn,
    Refusal.FIRST_NOT_SENT: FirstReportNotSent,
    Refusal.NOT_RESOLVED: IncidentNotResolved,
    Refusal.IN_FUTURE: SentTimeInvalid,
}


class ReportMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.reports = Gauge(
            "incident_regulator_reports",
            "Regulator reports by state (due, overdue, sent, withdrawn), refreshed by the tick",
            ["state"],
            registry=registry,
        )
        self.overdue = Counter(
            "incident_regulator_reports_overdue_total",
            "Regulator report stages that passed their deadline unsent (once each)",
            ["stage"],
            registry=registry,
        )
        self.due_soon = Counter(
            "incident_regulator_reports_due_soon_total",
            "Warnings that a regulator report stage is due soon (once each)",
            ["stage"],
            registry=registry,
        )


@dataclass(frozen=True)
class RuleChange:
    first_within: timedelta
    first_warn_before: timedelta
    final_within: timedelta
    final_warn_before: timedelta
    basis: str


@dataclass(frozen=True)
class ReportView:
    report: Report
    incident: IncidentView
    figures: ImpactFigures
    now: datetime

    @property
    def state(self) -> ReportState:
        return self.report.state(self.now)


class RegulatorReportService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        incidents: IncidentService,
        *,
        sms_service: str,
        delay_threshold_s: float,
        recipient_key: bytes,
        metrics: ReportMetrics | None = None,
        reports: RegulatorReportRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._incidents = incidents
        self._sms_service = sms_service
        self.delay_threshold_s = delay_threshold_s
        self._recipient_key = recipient_key
        self._metrics = metrics or ReportMetrics(None)
        self._reports = reports or RegulatorReportRepository()
        self._outbox = outbox or OutboxRepository()

    @classmethod
    async def create(
        cls,
        pool: asyncpg.Pool,
        clock: Clock,
        incidents: IncidentService,
        *,
        sms_service: str,
        delay_threshold_s: float,
        metrics: ReportMetrics,
    ) -> RegulatorReportService:
        async with pool.acquire() as conn:
            key = await RegulatorReportRepository().service_key(conn, "recipient_hash")
        return cls(
            pool,
            clock,
            incidents,
            sms_service=sms_service,
            delay_threshold_s=delay_threshold_s,
            recipient_key=key,
            metrics=metrics,
        )

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- following incidents (IncidentService hook) ---------------------------------------

    async def after_change(
        self, conn: DbConnection, _before: Incident | None, after: Incident, now: datetime
    ) -> None:
        """Inside the incident's transaction: its report created when it gains the duty (one per
        incident: the unique key), its deadlines moved with its times, withdrawn when it loses
        the duty before anything was sent."""
        subject = Subject(
            incident_id=after.id,
            duty=after.regulator_duty and after.merged_into is None,
            detected_at=after.detected_at,
            resolved_at=after.resolved_at,
        )
        existing = await self._reports.of_incident(conn, after.id)
        if existing is None and not subject.duty:
            return
        rule = await self._reports.rule_for(conn, after.severity.value) if existing is None else None
        if existing is None and rule is None:
            logger.warning("incident %s has the regulator duty but no rule for %s", after.id, after.severity)
            return
        report = domain.follow(existing, subject, rule, now, uuid.uuid4(), SYSTEM_ACTOR)
        if report is None:
            return
        if existing is None:
            if await self._reports.insert(conn, report):
                logger.warning("regulator report %s owed for incident %s", report.id, after.id)
        else:
            await self._reports.update(conn, report)

    # -- reading --------------------------------------------------------------------------

    async def reports(self, *, open_only: bool, limit: int) -> list[Report]:
        async with self._pool.acquire() as conn:
            return await self._reports.page(conn, open_only=open_only, limit=limit)

    async def view(self, report_id: UUID) -> ReportView:
        """The report with its incident, timeline and impact figures, as of now."""
        async with self._pool.acquire() as conn:
            report = await self._reports.get(conn, report_id)
        if report is None:
            raise RegulatorReportNotFound(f"no regulator report {report_id}")
        incident = await self._incidents.view(report.incident_id)
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            figures = await self._figures(conn, incident.incident, now)
        return ReportView(report, incident, figures, now)

    async def _figures(self, conn: DbConnection, incident: Incident, now: datetime) -> ImpactFigures:
        start, end = incident.impact_started_at, incident.impact_ended_at or now
        if self._sms_service not in incident.services or end <= start:
            return ImpactFigures(False, start, end, delay_threshold_s=self.delay_threshold_s)
        delayed, failed, users = await self._reports.impact_counts(conn, start, end, incident.products)
        return ImpactFigures(
            True, start, end, delayed, failed, users, self.delay_threshold_s, incident.products
        )

    # -- staff changes --------------------------------------------------------------------

    async def mark_sent(
        self,
        report_id: UUID,
        stage: Stage,
        actor: str,
        via: str,
        reference: str | None,
        at: datetime | None,
    ) -> ReportView:
        """A person sent the stage to the regulator (when, how, with which reference); the
        same again changes nothing."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            report = await self._for_change(conn, report_id)
            result = domain.mark_sent(report, stage, actor, via, reference, at or now, now)
            if isinstance(result, Refusal):
                raise _REFUSALS[result](f"report {report_id}: the {stage.value} report cannot be marked sent")
            if result is not None:
                await self._reports.update(conn, result)
        return await self.view(report_id)

    async def edit(self, report_id: UUID, cause: str | None, actions: str | None, actor: str) -> ReportView:
        """The cause and the actions, as staff write them for the report (only those given)."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            report = await self._for_change(conn, report_id)
            after = replace(
                report,
                cause=report.cause if cause is None else cause,
                actions=report.actions if actions is None else actions,
            )
            if after != report:
                await self._reports.update(conn, replace(after, updated_at=now, updated_by=actor))
        return await self.view(report_id)

    async def _for_change(self, conn: DbConnection, report_id: UUID) -> Report:
        report = await self._reports.get(conn, report_id, for_update=True)
        if report is None:
            raise RegulatorReportNotFound(f"no regulator report {report_id}")
        return report

    # -- the tick -------------------------------------------------------------------------

    async def tick(self, batch: int = 200) -> int:
        """Raise the warnings and overdue alerts owed now, once each (unique key; every replica
        may run it), then refresh the gauge. Returns how many alerts this replica raised."""
        raised = 0
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock.now()
            for report in await self._reports.alerting(conn, now, batch):
                for stage, alert, due_at, fell_due_at in domain.alerts_due(report, now):
                    if await self._reports.emit_once(conn, report.id, stage, alert, due_at, fell_due_at, now):
                        await self._raise(conn, report, stage, alert, due_at, fell_due_at)
                        raised += 1
        await self.refresh_gauges()
        return raised

    async def _raise(
        self, conn: DbConnection, report: Report, stage: Stage, alert: Alert, due_at: datetime, at: datetime
    ) -> None:
        incident = await self._incidents.get_in(conn, report.incident_id)
        payload = RegulatorReportAlert(
            report_id=report.id,
            incident_id=report.incident_id,
            incident_title=incident.title if incident else "",
            stage=stage.value,
            alert=alert.value,
            due_at=due_at,
            rule_id=report.rule.id,
            rule_revision=report.rule.revision,
            at=at,
        )
        if alert is Alert.OVERDUE:
            await self._outbox.enqueue(conn, INCIDENT_EVENTS, RegulatorReportOverdue(payload=payload))
            self._metrics.overdue.labels(stage.value).inc()
            logger.warning("regulator report %s: the %s report is overdue", report.id, stage.value)
        else:
            await self._outbox.enqueue(conn, INCIDENT_EVENTS, RegulatorReportDueSoon(payload=payload))
            self._metrics.due_soon.labels(stage.value).inc()

    async def refresh_gauges(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            now = self._clock.now()
            counts = {state.value: 0 for state in ReportState}
            counts.update(await self._reports.finished_counts(conn))
            for report in await self._reports.unfinished(conn):
                counts[report.state(now).value] += 1
        for state, count in counts.items():
            self._metrics.reports.labels(state).set(count)
        return counts

    # -- rules ----------------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        async with self._pool.acquire() as conn:
            return await self._reports.rules(conn)

    async def change_rule(self, rule_id: str, change: RuleChange, actor: str) -> Rule:
        """New figures for reports created from now on; reports made before keep theirs."""
        if change.first_warn_before >= change.first_within or change.final_warn_before >= change.final_within:
            raise RegulatorRuleInvalid("each warning must be shorter than its deadline")
        async with self._pool.acquire() as conn, conn.transaction():
            rules = {r.id: r for r in await self._reports.rules(conn)}
            if rule_id not in rules:
                raise RegulatorRuleNotFound(f"no rule {rule_id!r}", extra={"rules": sorted(rules)})
            changed = replace(
                rules[rule_id],
                first_within=change.first_within,
                first_warn_before=change.first_warn_before,
                final_within=change.final_within,
                final_warn_before=change.final_warn_before,
                basis=change.basis,
                updated_at=self._clock.now(),
                updated_by=actor,
            )
            saved = await self._reports.update_rule(conn, changed)
        assert saved is not None
        return saved

    # -- impact data (sms.status) ---------------------------------------------------------

    async def record_statuses(self, states: Sequence[MessageState]) -> int:
        """Keep the messages delayed past the threshold or failed (idempotent); returns how many."""
        rows = []
        for s in states:
            delay = (s.submitted_at - s.accepted_at).total_seconds() if s.submitted_at else None
            delayed = delay is not None and delay > self.delay_threshold_s
            failed = s.status is MessageStatus.FAILED
            if delayed or failed:
                digest = hmac.new(self._recipient_key, s.recipient.encode(), hashlib.sha256).digest()
                rows.append((s.message_id, digest, s.product_code, s.accepted_at, delay, delayed, failed))
        if rows:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._reports.record_impacts(conn, rows)
        return len(rows)
