"""complaints service entry point: `uvicorn --factory complaints.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints.calendar import api as calendar_api
from complaints.calendar.domain import BusinessCalendar
from complaints.calendar.service import CalendarService
from complaints.complaint import api as complaint_api
from complaints.complaint.service import ComplaintService, IntakeLimits
from complaints.holds import consumers as holds_consumers
from complaints.holds.service import DisputeService
from complaints.settings import ComplaintsSettings
from complaints.sla import api as sla_api
from complaints.sla.service import SlaMetrics, SlaService
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: ComplaintsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ComplaintsSettings()
    clock = clock or SystemClock()

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
        app.state.complaint_service = ComplaintService(
            pool,
            clock,
            sla,
            settings.provider_name,
            IntakeLimits(
                settings.web_complaints_per_number_per_hour, settings.web_complaints_per_address_per_hour
            ),
            hooks=[DisputeService(pool, clock).after_change],  # dispute holds and refunds follow each change
        )

        async def recompute_on_change(_calendar: BusinessCalendar, _version: int) -> None:
            # A calendar change (a holiday entered, a missing year's data arriving) moves due times.
            await sla.recompute_open()

        calendar.add_listener(recompute_on_change)
        runtime.every("sla-tick", settings.sla_tick_interval_s, sla.tick)
        # Changes made by another replica are noticed here (the calendar re-reads its revision).
        runtime.every("calendar-check", settings.calendar_check_interval_s, calendar.calendar)

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
            ),
            on_startup=wire,
            subscriptions=lambda runtime: holds_consumers.subscriptions(DisputeService(runtime.db(), clock)),
        ),
    )
