"""complaints service entry point: `uvicorn --factory complaints.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from complaints import api
from complaints.settings import ComplaintsSettings
from vas_common.app import ServiceSpec, create_service_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: ComplaintsSettings | None = None) -> FastAPI:
    settings = settings or ComplaintsSettings()
    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS complaints service", version="0.1.0", migrations_dir=MIGRATIONS, routers=(api.router,)
        ),
    )
