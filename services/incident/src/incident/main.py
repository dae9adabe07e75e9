"""incident service entry point: `uvicorn --factory incident.main:create_app`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from incident import api
from incident.settings import IncidentSettings
from incident.status import api as status_api
from incident.status import consumers as status_consumers
from incident.status import pages as status_pages
from incident.status.service import StatusService
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock
from vas_common.kafka import Subscription

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IncidentSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or IncidentSettings()
    clock = clock or SystemClock()
    started: dict[str, StatusService] = {}

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        status = app.state.status_service = StatusService(runtime.db(), clock)
        started["status"] = status
        app.state.status_pages = status_pages.status_pages(settings.provider_name)

    def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
        return (*status_consumers.subscriptions(started["status"]),)

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS incident service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(
                api.router,
                status_api.public_router,
                status_api.admin_router,
                status_pages.public_pages,
            ),
            subscriptions=subscriptions,
            on_startup=wire,
        ),
    )
