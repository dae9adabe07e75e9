"""complaints service entry point: `uvicorn --factory complaints.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints import api
from complaints.calendar import api as calendar_api
from complaints.calendar.service import CalendarService
from complaints.settings import ComplaintsSettings
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: ComplaintsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ComplaintsSettings()
    clock = clock or SystemClock()

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        calendar = app.state.calendar_service = CalendarService(
            runtime.db(), clock, registry=runtime.metrics.registry
        )
        await calendar.calendar()  # read once at start: the seed is looked up here, not in a request
        runtime.readiness_warnings["calendar"] = calendar.readiness_warning

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS complaints service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(api.router, calendar_api.router),
            on_startup=wire,
        ),
    )
