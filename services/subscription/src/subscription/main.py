"""Subscription service entry point: `uvicorn --factory subscription.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from subscription import api, consumers
from subscription.service import PartnerService
from subscription.settings import SubscriptionSettings
from vas_common.app import Runtime, ServiceSpec, create_service_app

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def _wire(app: FastAPI, runtime: Runtime) -> None:
    app.state.partner_service = PartnerService(runtime.db())


def create_app(settings: SubscriptionSettings | None = None) -> FastAPI:
    settings = settings or SubscriptionSettings()
    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS subscription service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(api.operator_router, api.partner_router),
            subscriptions=consumers.subscriptions,
            on_startup=_wire,
        ),
    )
