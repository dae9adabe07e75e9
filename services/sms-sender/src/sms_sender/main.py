"""sms-sender entry point: `uvicorn --factory sms_sender.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from vas_common.app import Runtime, ServiceSpec, create_service_app

from sms_sender import api, consumers
from sms_sender.service import PartnerDirectory
from sms_sender.settings import SmsSenderSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def _wire(app: FastAPI, runtime: Runtime) -> None:
    app.state.partner_directory = PartnerDirectory(runtime.db())


def create_app(settings: SmsSenderSettings | None = None) -> FastAPI:
    settings = settings or SmsSenderSettings()
    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS sms-sender",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(api.router,),
            subscriptions=consumers.subscriptions,
            on_startup=_wire,
        ),
    )
