"""Subscription service entry point: `uvicorn --factory subscription.main:create_app`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from subscription import consumers
from subscription.api import billing as billing_api
from subscription.api import deps
from subscription.api import jobs as jobs_api
from subscription.api import pages as pages_api
from subscription.api import partners as partner_api
from subscription.api import products as product_api
from subscription.api import records as records_api
from subscription.api import subscriptions as subscription_api
from subscription.domain import period_of
from subscription.service.billing import BillingService
from subscription.service.conversation import RegistrationMetrics
from subscription.service.maintenance import MaintenanceNoticeService
from subscription.service.partners import PartnerService
from subscription.service.products import ProductService
from subscription.service.records import RecordsService
from subscription.service.subscriptions import SubscriptionService
from subscription.settings import SubscriptionSettings
from vas_common import mo_routing
from vas_common.access import Audience
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.clock import Clock, SystemClock
from vas_common.events.sms_sender import MoMessage
from vas_common.kafka import Subscription

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

logger = logging.getLogger(__name__)


def create_app(settings: SubscriptionSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or SubscriptionSettings()
    clock = clock or SystemClock()
    services: dict[str, SubscriptionService] = {}
    billing_services: dict[str, BillingService] = {}
    records_services: dict[str, RecordsService] = {}

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        pool = runtime.db()
        app.state.partner_service = PartnerService(
            pool, clock=clock.now, system_access_number=settings.system_access_number
        )
        runtime.authenticators[Audience.PARTNER] = deps.authenticate_partner_key
        products = app.state.product_service = ProductService(pool, clock, settings.provider_name)

        def for_complaints(mo: MoMessage) -> bool:
            return mo_routing.for_complaints(
                mo.text,
                mo.destination,
                settings.system_access_number,
                settings.complaints_ext_code,
                settings.complaint_keywords,
            )

        subs = app.state.subscription_service = SubscriptionService(
            pool,
            clock,
            settings.provider_name,
            RegistrationMetrics(runtime.metrics.registry),
            leave_alone=for_complaints,
        )
        billing = app.state.billing_service = BillingService(pool, clock)
        records = app.state.records_service = RecordsService(pool, clock, settings.retention_months)
        app.state.pages = pages_api.subscription_pages(settings.provider_name)
        await records.ensure_partitions()
        services["subscriptions"] = subs
        billing_services["billing"] = billing
        records_services["records"] = records

        async def expire_and_apply() -> None:
            await subs.expire_pending()
            await products.apply_due_changes()

        async def bill_this_month() -> None:
            # the current month, again and again: a run charges only what is not charged yet
            # (new subscriptions), so monthly fees are taken without anyone calling it
            await billing.run_monthly(period_of(clock.now()))

        first = settings.jobs_interval_s
        runtime.every("expire-and-notices", settings.jobs_interval_s, expire_and_apply)
        # also creates the coming months' partitions of order_records
        runtime.every(
            "retention", settings.retention_interval_s, records.apply_retention, first_after_s=first
        )
        runtime.every("monthly-billing", settings.billing_interval_s, bill_this_month, first_after_s=first)

    def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
        return (
            *consumers.subscriptions(
                services["subscriptions"], on_delivered=[billing_services["billing"].charge_delivered]
            ),
            consumers.complaint_events(records_services["records"], billing_services["billing"]),
            consumers.maintenance_events(
                MaintenanceNoticeService(
                    runtime.db(), clock, settings.provider_name, settings.maintenance_notice_page_size
                )
            ),
        )

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS subscription service",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(
                partner_api.operator_router,
                partner_api.partner_router,
                product_api.router,
                product_api.operator_router,
                product_api.catalogue_router,
                subscription_api.router,
                subscription_api.operator_router,
                jobs_api.router,
                billing_api.router,
                records_api.router,
                records_api.jobs_router,
            ),
            subscriptions=subscriptions,
            on_startup=wire,
        ),
    )
