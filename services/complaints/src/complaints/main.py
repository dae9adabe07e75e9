"""complaints service entry point: `uvicorn --factory complaints.main:create_app`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from complaints.calendar import api as calendar_api
from complaints.calendar.domain import BusinessCalendar
from complaints.calendar.service import CalendarService
from complaints.complaint import api as complaint_api
from complaints.complaint import consumers as complaint_consumers
from complaints.complaint import pages as complaint_pages
from complaints.complaint.service import ComplaintService, IntakeLimits, SmsReplies
from complaints.holds import consumers as holds_consumers
from complaints.holds.service import DisputeService
from complaints.report import api as report_api
from complaints.report import consumers as report_consumers
from complaints.report.service import ReportMetrics, ReportService
from complaints.settings import ComplaintsSettings
from complaints.sla import api as sla_api
from complaints.sla.service import SlaMetrics, SlaService
from complaints.staff import api as staff_api
from complaints.staff import console
from complaints.staff.messages import MESSAGES as CONSOLE_MESSAGES
from complaints.staff.service import SignInLimits, StaffService
from vas_common.access import Audience
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock
from vas_common.kafka import Subscription
from vas_common.pages import Pages, add_page_errors
from vas_common.staff import Csrf, StaffTokens, staff_authenticator

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
logger = logging.getLogger(__name__)


def create_app(settings: ComplaintsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ComplaintsSettings()
    clock = clock or SystemClock()
    services: dict[str, ComplaintService] = {}
    started: dict[str, ReportService] = {}  # what the consumers need, made at start-up

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        pool = runtime.db()
        calendar = app.state.calendar_service = CalendarService(
            pool, clock, registry=runtime.metrics.registry
        )
        await calendar.calendar()  # read once at start: the seed is looked up here, not in a request
        runtime.readiness_warnings["calendar"] = calendar.readiness_warning
        sla = app.state.sla_service = SlaService(
            pool, clock, calendar.calendar, SlaMetrics(runtime.metrics.registry)
        )
        complaints = app.state.complaint_service = ComplaintService(
            pool,
            clock,
            sla,
            settings.provider_name,
            IntakeLimits(
                settings.web_complaints_per_number_per_hour, settings.web_complaints_per_address_per_hour
            ),
            SmsReplies(
                settings.system_access_number, settings.complaints_ext_code, settings.complaint_keywords
            ),
            hooks=[DisputeService(pool, clock).after_change],  # dispute holds and refunds follow each change
        )
        services["complaints"] = complaints

        async def recompute_on_change(_calendar: BusinessCalendar, _version: int) -> None:
            # A calendar change (a holiday entered, a missing year's data arriving) moves due times.
            await sla.recompute_open()

        calendar.add_listener(recompute_on_change)
        await _wire_staff(app, runtime, settings, clock)
        app.state.complaint_pages = complaint_pages.complaint_pages(settings.provider_name)
        # A user's page never answers with the staff console's error page.
        add_page_errors(app, complaint_pages.PREFIX + "/", complaint_pages.render_error)
        runtime.every("sla-tick", settings.sla_tick_interval_s, sla.tick)
        wait = timedelta(hours=settings.satisfaction_wait_hours)
        runtime.every("satisfaction-follow-up", 60.0, lambda: complaints.escalate_unrated(wait))
        report = app.state.report_service = ReportService(
            pool, clock, ReportMetrics(runtime.metrics.registry)
        )
        started["reports"] = report
        runtime.every("sla-gauges", settings.sla_gauges_interval_s, report.refresh_gauges)
        # Changes made by another replica are noticed here (the calendar re-reads its revision).
        runtime.every("calendar-check", settings.calendar_check_interval_s, calendar.calendar)

    def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
        return (
            *complaint_consumers.subscriptions(services["complaints"]),
            *holds_consumers.subscriptions(DisputeService(runtime.db(), clock)),
            *report_consumers.subscriptions(started["reports"]),
        )

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS complaints service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(
                complaint_api.staff_router,
                complaint_api.public_router,
                sla_api.router,
                sla_api.jobs_router,
                calendar_api.router,
                staff_api.sessions_router,
                staff_api.me_router,
                staff_api.accounts_router,
                console.public_pages,
                complaint_pages.public_pages,
                console.staff_pages,
                report_api.router,
            ),
            subscriptions=subscriptions,
            on_startup=wire,
            form_paths=("/staff/", complaint_pages.PREFIX + "/"),
        ),
    )


async def _wire_staff(app: FastAPI, runtime: Runtime, settings: ComplaintsSettings, clock: Clock) -> None:
    """Staff sign-in is issued here: the accounts, the authenticator that also looks at the
    account behind a token (deactivated, or changed since), the first administrator, and the
    console's pages."""
    tokens = StaffTokens(settings.staff_token_key, clock)
    staff = app.state.staff_service = StaffService(
        runtime.db(),
        clock,
        tokens,
        timedelta(hours=settings.staff_session_hours),
        limits=SignInLimits(
            settings.staff_sign_in_failures, timedelta(seconds=settings.staff_sign_in_window_s)
        ),
    )
    runtime.authenticators[Audience.STAFF] = staff_authenticator(
        tokens, settings.operator_token, staff.check_session
    )
    if not tokens.enabled:
        logger.warning("staff sign-in is off: COMPLAINTS_STAFF_TOKEN_KEY is not set (32+ characters)")
    await staff.seed_initial_admin(
        settings.initial_admin_login, settings.initial_admin_password.get_secret_value()
    )
    runtime.every("staff-sign-in-failures", settings.staff_sign_in_window_s, staff.forget_old_failures)
    ui = app.state.staff_console = console.Console(
        Pages(console.TEMPLATES, CONSOLE_MESSAGES, site_name=settings.provider_name),
        Csrf(settings.staff_token_key),
        clock,
    )
    add_page_errors(app, "/staff/", ui.render_error)
