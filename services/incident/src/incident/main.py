"""incident service entry point: `uvicorn --factory incident.main:create_app`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from incident.availability import api as availability_api
from incident.availability.domain import AvailabilityRule
from incident.availability.service import AvailabilityService, maintenance_source
from incident.incidents import api as incidents_api
from incident.incidents.service import IncidentService
from incident.maintenance import api as maintenance_api
from incident.maintenance import consumers as maintenance_consumers
from incident.maintenance.domain import NoticeRules
from incident.maintenance.repository import MaintenanceRepository
from incident.maintenance.service import MaintenanceService
from incident.quality import api as quality_api
from incident.quality import consumers as quality_consumers
from incident.quality import pages as quality_pages
from incident.quality.service import QualityMetrics, QualityService, QualityTargets
from incident.records import api as records_api
from incident.records.service import RecordsService
from incident.regulator_reports import api as regulator_reports_api
from incident.regulator_reports import consumers as regulator_reports_consumers
from incident.regulator_reports import pages as regulator_reports_pages
from incident.regulator_reports.service import RegulatorReportService, ReportMetrics
from incident.regulator_tasks import api as regulator_tasks_api
from incident.regulator_tasks.service import RegulatorTaskService
from incident.settings import IncidentSettings
from incident.signals import consumers as signal_consumers
from incident.signals.service import SignalRules, SignalService
from incident.status import api as status_api
from incident.status import consumers as status_consumers
from incident.status import feed as status_feed
from incident.status import pages as status_pages
from incident.status.service import StatusService
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock
from vas_common.kafka import Subscription
from vas_common.pages import add_page_errors

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IncidentSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or IncidentSettings()
    clock = clock or SystemClock()
    # What the consumers need, made at start-up.
    signals_started: dict[str, SignalService] = {}
    status_started: dict[str, StatusService] = {}
    maintenance_started: dict[str, MaintenanceService] = {}
    reports_started: dict[str, RegulatorReportService] = {}
    quality_started: dict[str, QualityService] = {}

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        pool = runtime.db()
        incidents = app.state.incident_service = await IncidentService.create(pool, clock, settings.services)
        signals = SignalService(
            pool,
            clock,
            incidents,
            SignalRules(
                service=settings.signal_service,
                hold_down_s=settings.signal_hold_down_s,
                max_report_age_s=settings.signal_max_report_age_s,
            ),
        )
        incidents.add_hook(signals.after_change)
        signals_started["signals"] = app.state.signal_service = signals
        availability = app.state.availability_service = AvailabilityService(
            pool,
            clock,
            AvailabilityRule(
                partial_weight=settings.availability_partial_weight,
                exclude_on_time_maintenance=settings.availability_exclude_on_time_maintenance,
                notice_hours=settings.maintenance_notice_hours,
            ),
            sources=[
                maintenance_source(
                    MaintenanceRepository(), timedelta(hours=settings.maintenance_notice_hours)
                )
            ],
        )
        # Every replica ticks; a healed fault is taken by one of them (FOR UPDATE SKIP LOCKED).
        runtime.every("signal-hold-down", settings.signal_tick_interval_s, signals.resolve_healed)
        status_started["status"] = app.state.status_service = StatusService(
            pool, clock, availability, settings.services, settings.availability_target
        )
        app.state.status_pages = status_pages.status_pages(settings.provider_name)
        maintenance_started["maintenance"] = _wire_maintenance(app, runtime, settings, clock)
        retention = (
            timedelta(days=settings.records_retention_days) if settings.records_retention_days else None
        )
        records = app.state.records_service = RecordsService(pool, clock, retention)
        runtime.every("records-retention", settings.records_retention_interval_s, records.run_retention)
        reports_started["reports"] = await _wire_regulator_reports(app, runtime, settings, clock, incidents)
        minute_days = settings.quality_minute_retention_days
        user_days = settings.quality_user_rows_retention_days
        quality = quality_started["quality"] = app.state.quality_service = await QualityService.create(
            pool,
            clock,
            availability,
            settings.services,
            _quality_targets(settings),
            minute_retention=timedelta(days=minute_days) if minute_days else None,
            user_rows_retention=timedelta(days=user_days) if user_days else None,
            metrics=QualityMetrics(runtime.metrics.registry),
        )
        runtime.every("quality-retention", settings.quality_retention_interval_s, quality.prune)
        runtime.every(
            "quality-metrics", settings.metrics_sample_interval_s, quality.sample, first_after_s=0.0
        )
        app.state.quality_pages = quality_pages.quality_pages(settings.provider_name)
        for prefix in (quality_pages.STAFF_PREFIX + "/", quality_pages.PUBLIC_PREFIX + "/"):
            add_page_errors(app, prefix, quality_pages.render_error)

    def subscriptions(_runtime: Runtime) -> Sequence[Subscription]:
        return (
            *signal_consumers.subscriptions(signals_started["signals"]),
            *status_consumers.subscriptions(status_started["status"]),
            *maintenance_consumers.subscriptions(maintenance_started["maintenance"]),
            *regulator_reports_consumers.subscriptions(reports_started["reports"]),
            *quality_consumers.subscriptions(quality_started["quality"]),
        )

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS incident service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(
                incidents_api.router,
                availability_api.router,
                status_api.public_router,
                status_api.admin_router,
                status_pages.public_pages,
                status_feed.feed_pages,
                *MAINTENANCE_ROUTERS,
                records_api.router,
                regulator_reports_api.router,
                regulator_reports_api.rules_router,
                regulator_reports_pages.staff_pages,
                quality_api.router,
                quality_pages.staff_pages,
                quality_pages.public_pages,
            ),
            subscriptions=subscriptions,
            on_startup=wire,
            clock=clock,  # staff tokens' times on the service's clock
        ),
    )


# -- maintenance windows and regulator tasks (incident.maintenance, incident.regulator_tasks) --

MAINTENANCE_ROUTERS = (maintenance_api.router, maintenance_api.jobs_router, regulator_tasks_api.router)


def _wire_maintenance(
    app: FastAPI, runtime: Runtime, settings: IncidentSettings, clock: Clock
) -> MaintenanceService:
    rules = NoticeRules(
        notice_period=timedelta(hours=settings.maintenance_notice_hours),
        reminder_before=timedelta(hours=settings.maintenance_reminder_hours),
        regulator_threshold=timedelta(hours=settings.maintenance_regulator_threshold_hours),
        regulator_lead=timedelta(hours=settings.maintenance_regulator_lead_hours),
    )
    maintenance = app.state.maintenance_service = MaintenanceService(
        runtime.db(), clock, rules, settings.services
    )
    app.state.regulator_task_service = RegulatorTaskService(runtime.db(), clock)
    runtime.every("maintenance-tick", settings.maintenance_tick_interval_s, maintenance.tick)
    return maintenance


# -- regulator reports (incident.regulator_reports) --


async def _wire_regulator_reports(
    app: FastAPI, runtime: Runtime, settings: IncidentSettings, clock: Clock, incidents: IncidentService
) -> RegulatorReportService:
    reports = app.state.regulator_report_service = await RegulatorReportService.create(
        runtime.db(),
        clock,
        incidents,
        sms_service=settings.signal_service,
        delay_threshold_s=settings.regulator_delay_threshold_s,
        metrics=ReportMetrics(runtime.metrics.registry),
    )
    incidents.add_hook(reports.after_change)  # a report follows its incident, in its transaction
    # Every replica ticks; each warning and overdue alert is recorded once (unique key).
    runtime.every("regulator-reports", settings.regulator_tick_interval_s, reports.tick)
    app.state.regulator_report_pages = regulator_reports_pages.report_pages(settings.provider_name)
    # Its plain error page serves the public status page too (no sign-in there).
    for prefix in (regulator_reports_pages.PREFIX + "/", status_pages.PREFIX):
        add_page_errors(app, prefix, regulator_reports_pages.render_error)
    return reports


# -- service quality (incident.quality) --


def _quality_targets(settings: IncidentSettings) -> QualityTargets:
    return QualityTargets(
        delay_target_s=settings.quality_delay_target_s,
        delay_objective=settings.quality_delay_objective,
        capacity_per_second=settings.quality_capacity_per_second,
        busy_hour_per_second=settings.quality_busy_hour_per_second,
        availability=settings.availability_target,
        mttr_hours=settings.quality_mttr_hours,
        notice_hours=settings.maintenance_notice_hours,
        registration_success=settings.quality_registration_success,
        unsubscribe_p99_s=settings.quality_unsubscribe_p99_s,
        satisfied_share=settings.quality_satisfied_share,
    )
