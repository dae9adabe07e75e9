"""Regulator report endpoints (staff): any signed-in staff member reads reports and rules (the
JSON of a report is its export); a supervisor (or the operator token) writes the cause and
actions and marks a stage sent; an administrator changes a rule. Reports are never deleted."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Path, Query, Request

from incident.deps import Actor, Supervisor
from incident.regulator_reports.domain import Stage
from incident.regulator_reports.errors import (
    FirstReportNotSent,
    IncidentNotResolved,
    RegulatorReportNotFound,
    RegulatorReportWithdrawn,
    RegulatorRuleInvalid,
    RegulatorRuleNotFound,
    SentTimeInvalid,
)
from incident.regulator_reports.schemas import (
    RegulatorReportDocument,
    RegulatorReportOut,
    ReportPatch,
    RuleIn,
    RuleOut,
    SentIn,
)
from incident.regulator_reports.service import RegulatorReportService
from vas_common.access import Audience, audience_router
from vas_common.app import app_state
from vas_common.errors import documented
from vas_common.staff import Role, require_role

router = audience_router(Audience.STAFF, prefix="/v1/regulator-reports", tags=["regulator reports (staff)"])
rules_router = audience_router(
    Audience.STAFF, prefix="/v1/regulator-report-rules", tags=["regulator reports (staff)"]
)


async def regulator_report_service(request: Request) -> RegulatorReportService:
    return app_state(request, "regulator_report_service", RegulatorReportService)


Reports = Annotated[RegulatorReportService, Depends(regulator_report_service)]


@router.get("", response_model=list[RegulatorReportOut])
async def list_reports(
    reports: Reports,
    open_only: Annotated[
        bool, Query(alias="open", description="only those whose final report is not sent")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RegulatorReportOut]:
    """Newest first, each with its state now (due, overdue, sent, withdrawn)."""
    now = reports.clock.now()
    return [RegulatorReportOut.of(r, now) for r in await reports.reports(open_only=open_only, limit=limit)]


@router.get(
    "/{report_id}", response_model=RegulatorReportDocument, responses=documented(RegulatorReportNotFound)
)
async def report(report_id: UUID, reports: Reports) -> RegulatorReportDocument:
    """The whole report (the record's JSON export): its stages and the rule that applied, the
    incident with its five times and timeline, and the impact figures counted from sms.status."""
    return RegulatorReportDocument.of(await reports.view(report_id))


@router.patch(
    "/{report_id}",
    dependencies=[Supervisor],
    response_model=RegulatorReportDocument,
    responses=documented(RegulatorReportNotFound),
)
async def edit_report(
    report_id: UUID, body: ReportPatch, reports: Reports, actor: Actor
) -> RegulatorReportDocument:
    """The cause and the actions (only the fields sent)."""
    return RegulatorReportDocument.of(await reports.edit(report_id, body.cause, body.actions, actor))


@router.post(
    "/{report_id}/stages/{stage}/sent",
    dependencies=[Supervisor],
    response_model=RegulatorReportDocument,
    responses=documented(
        RegulatorReportNotFound,
        RegulatorReportWithdrawn,
        FirstReportNotSent,
        IncidentNotResolved,
        SentTimeInvalid,
    ),
)
async def mark_sent(
    report_id: UUID, stage: Stage, body: SentIn, reports: Reports, actor: Actor
) -> RegulatorReportDocument:
    """The first or final report was sent to the regulator: by whom (the caller), when, how.
    Again: no change."""
    view = await reports.mark_sent(report_id, stage, actor, body.via, body.reference, body.sent_at)
    return RegulatorReportDocument.of(view)


@rules_router.get("", response_model=list[RuleOut])
async def rules(reports: Reports) -> list[RuleOut]:
    """The rules that set report deadlines, per incident severity."""
    return [RuleOut.of(r) for r in await reports.rules()]


@rules_router.put(
    "/{rule_id}",
    dependencies=[require_role(Role.ADMIN)],
    response_model=RuleOut,
    responses=documented(RegulatorRuleNotFound, RegulatorRuleInvalid),
)
async def change_rule(
    rule_id: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,39}$")],
    body: RuleIn,
    reports: Reports,
    actor: Actor,
) -> RuleOut:
    """New figures for reports created from now on (the revision goes up); a report made
    before keeps the figures it was made with."""
    return RuleOut.of(await reports.change_rule(rule_id, body.change(), actor))
