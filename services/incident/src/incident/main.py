"""incident service entry point: `uvicorn --factory incident.main:create_app`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from incident import api
from incident.maintenance import api as maintenance_api
from incident.maintenance import consumers as maintenance_consumers
from incident.maintenance.domain import NoticeRules
from incident.maintenance.service import MaintenanceService
from incident.regulator_tasks import api as regulator_tasks_api
from incident.regulator_tasks.service import RegulatorTaskService
from incident.settings import IncidentSettings
from vas_common.access import Audience
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock
from vas_common.kafka import Subscription
from vas_common.staff import StaffTokens, staff_authenticator

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IncidentSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or IncidentSettings()
    clock = clock or SystemClock()
    started: dict[str, MaintenanceService] = {}  # what the consumers need, made at start-up

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        # Staff signed in at the complaints service, their tokens' times read on this clock.
        runtime.authenticators[Audience.STAFF] = staff_authenticator(
            StaffTokens(settings.staff_token_key, clock), settings.operator_token
        )
        started["maintenance"] = _wire_maintenance(app, runtime, settings, clock)

    def subscriptions(_runtime: Runtime) -> Sequence[Subscription]:
        return (*maintenance_consumers.subscriptions(started["maintenance"]),)

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS incident service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(api.router, *MAINTENANCE_ROUTERS),
            subscriptions=subscriptions,
            on_startup=wire,
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
    maintenance = app.state.maintenance_service = MaintenanceService(runtime.db(), clock, rules)
    app.state.regulator_task_service = RegulatorTaskService(runtime.db(), clock)
    runtime.every("maintenance-tick", settings.maintenance_tick_interval_s, maintenance.tick)
    return maintenance
