"""incident service entry point: `uvicorn --factory incident.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from incident import api
from incident.settings import IncidentSettings
from vas_common.app import ServiceSpec, create_service_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IncidentSettings | None = None) -> FastAPI:
    settings = settings or IncidentSettings()
    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS incident service", version="0.1.0", migrations_dir=MIGRATIONS, routers=(api.router,)
        ),
    )
