"""sms-sender entry point: `uvicorn --factory sms_sender.main:create_app`.

SMS_SENDER_ROLE picks what the process runs: `api`, `dispatcher` (scaled out as a consumer
group) or `all` (both; the default and what `make run` uses)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from sms_sender import api, consumers, operator_api
from sms_sender.backlogs import BacklogMetrics, BacklogSampler
from sms_sender.callbacks import CallbackWorker
from sms_sender.connectors.failover import FailoverConnector
from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from sms_sender.domain import ContentReviewer, parse_word_list
from sms_sender.health import HealthMonitor, HealthRules
from sms_sender.repository.keys import ServiceKeyRepository
from sms_sender.repository.partitions import PartitionRepository
from sms_sender.service.accept import SendMetrics, SendService
from sms_sender.service.account_lease import AccountLease
from sms_sender.service.callbacks import CallbackSecrets
from sms_sender.service.dispatch import Dispatcher, DispatchMetrics
from sms_sender.service.inbound import InboundIntake
from sms_sender.service.mo import MoIntake
from sms_sender.service.partners import PartnerDirectory
from sms_sender.service.queries import StatusQueries
from sms_sender.service.receipts import ReceiptIntake
from sms_sender.service.reconciliation import ReceiptReconciler, ReconciliationMetrics
from sms_sender.service.republish import Republisher, RepublishMetrics
from sms_sender.service.retention import Retention
from sms_sender.settings import SmsSenderSettings
from sms_sender.status_relay import StatusRelay
from vas_common.access import Audience
from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.breaker import CircuitBreaker
from vas_common.clock import Clock, SystemClock
from vas_common.cursors import CursorCipher
from vas_common.events.sms_sender import HealthReported
from vas_common.events.topics import SMS_HEALTH
from vas_common.group_commit import GroupCommitMetrics
from vas_common.kafka import Subscription
from vas_common.outbound import AddressPolicy, OutboundGuard

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

logger = logging.getLogger(__name__)


def load_reviewer(settings: SmsSenderSettings) -> ContentReviewer:
    if settings.sensitive_words_path is not None:
        text = settings.sensitive_words_path.read_text(encoding="utf-8")
    else:
        text = resources.files("sms_sender").joinpath("data/sensitive_words.txt").read_text(encoding="utf-8")
    return ContentReviewer(parse_word_list(text.splitlines()))


def _connector(settings: SmsSenderSettings, clock: Clock | None = None) -> SmppConnector | FailoverConnector:
    primary = SmppConnector(_bind_config(settings, settings.smsc_host, settings.smsc_port))
    if not settings.has_standby:
        return primary
    standby = _bind_config(
        settings,
        settings.smsc_standby_host or settings.smsc_host,
        settings.smsc_standby_port or settings.smsc_port,
        system_id=settings.smsc_standby_system_id,
        password=settings.smsc_standby_password,
    )
    return FailoverConnector(
        primary,
        SmppConnector(standby),
        standby_after_s=settings.smsc_standby_after_s,
        primary_hold_s=settings.smsc_primary_hold_s,
        clock=clock,
    )


def _bind_config(
    settings: SmsSenderSettings,
    host: str,
    port: int,
    system_id: str | None = None,
    password: SecretStr | None = None,
) -> SmppBindConfig:
    return SmppBindConfig(
        host=host,
        port=port,
        system_id=system_id or settings.smsc_system_id,
        password=(password or settings.smsc_password).get_secret_value(),
        binds=settings.smsc_binds,
        window=settings.smsc_window,
        tps=settings.smsc_tps,
        response_timeout_s=settings.smsc_response_timeout_s,
        enquire_link_interval_s=settings.smsc_enquire_link_interval_s,
        give_up_after_s=settings.smsc_give_up_after_s,
        auth_backoff_s=settings.smsc_auth_backoff_s,
        auth_backoff_max_s=settings.smsc_auth_backoff_max_s,
    )


def _health_monitor(
    settings: SmsSenderSettings, clock: Clock, connector: SmppConnector | FailoverConnector
) -> HealthMonitor:
    return HealthMonitor(
        clock,
        HealthRules(
            binds_down_after_s=settings.health_binds_down_after_s,
            send_delay_threshold_s=settings.health_send_delay_threshold_s,
            send_delay_quantile=settings.health_send_delay_quantile,
            send_delay_window_s=settings.health_send_delay_window_s,
            send_delay_min_samples=settings.health_send_delay_min_samples,
            failure_rate_threshold=settings.health_failure_rate_threshold,
            failure_window_s=settings.health_failure_window_s,
            failure_min_samples=settings.health_failure_min_samples,
        ),
        smsc=settings.smsc_name,
        binds_up=connector.connected_binds,
        binds_configured=settings.smsc_binds,
        interval_s=settings.health_report_interval_s,
        route=(lambda: connector.active.name.value) if isinstance(connector, FailoverConnector) else None,
    )


def create_app(settings: SmsSenderSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or SmsSenderSettings()
    clock = clock or SystemClock()
    dispatcher: Dispatcher | None = None

    async def wire(app: FastAPI, runtime: Runtime) -> None:
        nonlocal dispatcher
        pool = runtime.db()
        async with pool.acquire() as conn:
            await PartitionRepository().ensure_partitions(conn, clock.now())
            cursor_key = await ServiceKeyRepository().service_key(conn, "status_event_cursor")
        retention = app.state.retention = Retention(pool, clock, settings.retention_months)
        # Every role runs it (each process keeps the coming months' partitions); runs overlap safely.
        runtime.every("retention", settings.retention_interval_s, retention.run)
        # Every role too: it needs only the database and the outbox; concurrent sweeps claim apart.
        republisher = app.state.republisher = Republisher(
            pool,
            clock,
            after_s=settings.republish_after_s,
            batch=settings.republish_batch,
            metrics=RepublishMetrics(runtime.metrics.registry),
        )
        runtime.every("republish", settings.republish_interval_s, republisher.run)
        group_commits = GroupCommitMetrics(runtime.metrics.registry)  # one per registry
        callback_policy = AddressPolicy.of(
            settings.callback_allow_http, settings.callback_allowed_destinations
        )
        app.state.partner_directory = PartnerDirectory(pool, cache_ttl_s=settings.partner_cache_ttl_s)
        runtime.authenticators[Audience.PARTNER] = api.authenticate_sender
        app.state.status_queries = StatusQueries(pool, CursorCipher(cursor_key))
        app.state.callback_secrets = CallbackSecrets(pool)
        send_service = app.state.send_service = SendService(
            pool,
            load_reviewer(settings),
            default_access_number=settings.default_access_number,
            concat_reference_bits=settings.concat_reference_bits,
            default_rate_per_s=settings.default_rate_per_s,
            database_wait_s=settings.database_statement_timeout_s,
            metrics=SendMetrics(runtime.metrics.registry, group_commits),
            clock=clock,
            callback_destinations=OutboundGuard(
                callback_policy, cache_ttl_s=settings.callback_dns_cache_ttl_s
            ),
        )
        await send_service.start()
        runtime.on_shutdown.append(send_service.stop)
        if not settings.runs_dispatcher:
            return
        connector = _connector(settings, clock)
        for metric in connector.metrics():
            runtime.metrics.registry.register(metric)
        health = _health_monitor(settings, clock, connector)
        dispatcher = Dispatcher(
            pool,
            connector,
            DispatchMetrics(runtime.metrics.registry),
            group_commits=group_commits,
            health=health,
            clock=clock,
            concat_reference_bits=settings.concat_reference_bits,
        )
        lease = AccountLease(
            pool,
            connector,
            account=settings.smsc_account,
            account_binds=settings.smsc_binds,
            account_tps=settings.account_tps,
            heartbeat_s=settings.smsc_lease_heartbeat_s,
            ttl_s=settings.smsc_lease_ttl_s,
        )
        await lease.beat()  # joins: the binds this process may open, before it opens any
        runtime.on_shutdown.append(lease.leave)  # once its binds are down (shutdown runs in reverse)
        await dispatcher.start()
        dispatch_metrics = dispatcher.metrics
        inbound = InboundIntake(
            pool,
            ReceiptIntake(pool, dispatcher.in_flight, dispatch_metrics.receipts, clock, health=health),
            MoIntake(dispatch_metrics.mo),
            clock,
        )
        await connector.start(inbound.handle)
        runtime.on_shutdown.append(inbound.stop)  # after the connector: nothing parks any more
        runtime.on_shutdown.append(connector.stop)
        runtime.on_shutdown.append(dispatcher.stop)  # stopped before the connector: drains first
        runtime.every("smsc-lease", settings.smsc_lease_heartbeat_s, lease.beat)

        async def smsc_bound() -> None:
            if connector.allowed_binds == 0:
                raise ConnectionError(
                    f"this dispatcher's share of the SMSC account's {settings.smsc_binds} binds is none"
                    " (just joined, or more dispatchers than binds)"
                )
            if connector.connected_binds() == 0:
                problem = connector.bind_problem()
                raise ConnectionError("no SMPP bind is up" + (f" ({problem})" if problem else ""))

        async def smsc_login() -> str | None:
            # Also while binds logged in earlier are still up: the next reconnect will fail.
            return connector.login_problem()

        runtime.readiness_checks["smsc"] = smsc_bound
        runtime.readiness_warnings["smsc_login"] = smsc_login
        if isinstance(connector, FailoverConnector):
            failover = connector

            async def smsc_route() -> str | None:
                return failover.describe_route()

            runtime.readiness_warnings["smsc_route"] = smsc_route
        callbacks = CallbackWorker(
            pool,
            runtime.metrics.registry,
            destinations=OutboundGuard(callback_policy),
            retry_initial_s=settings.callback_retry_initial_s,
            retry_max_s=settings.callback_retry_max_s,
            give_up_after=timedelta(seconds=settings.callback_give_up_after_s),
            concurrency=settings.callback_concurrency,
            partner_concurrency=settings.callback_partner_concurrency,
            connect_timeout_s=settings.callback_connect_timeout_s,
            read_timeout_s=settings.callback_read_timeout_s,
            breaker=CircuitBreaker(settings.callback_breaker_failures, settings.callback_breaker_cooldown_s),
            clock=clock,
            legacy_headers_until=settings.callback_legacy_headers_until,
        )
        await callbacks.start()
        runtime.on_shutdown.append(callbacks.stop)
        # Status events are written by dispatchers; one of them (a lock) publishes them all.
        status_relay = StatusRelay(pool, runtime.publisher, settings.outbox_poll_interval_s)
        await status_relay.start()
        runtime.on_shutdown.append(status_relay.stop)
        runtime.every("early-receipts", 1.0, inbound.receipts.resolve_early_receipts)
        reconciler = ReceiptReconciler(
            pool,
            connector,
            ReconciliationMetrics(runtime.metrics.registry),
            clock,
            query_after=timedelta(seconds=settings.receipt_query_after_s),
            requery_after=timedelta(seconds=settings.receipt_requery_after_s),
            # past the validity period, one more question (a requery interval) before giving up
            give_up_after=timedelta(seconds=settings.smsc_validity_s + settings.receipt_requery_after_s),
            batch=settings.receipt_query_batch,
        )
        runtime.every("receipt-reconciliation", settings.receipt_query_interval_s, reconciler.run)
        backlogs = BacklogSampler(pool, BacklogMetrics(runtime.metrics.registry), clock)
        runtime.every(
            "backlog-metrics", settings.metrics_sample_interval_s, backlogs.sample, first_after_s=0.0
        )

        async def report_health() -> None:
            await runtime.publisher.publish(SMS_HEALTH, HealthReported(payload=health.report()))

        runtime.every("health-report", settings.health_report_interval_s, report_health)

    def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
        return consumers.subscriptions(
            runtime,
            dispatcher,
            default_access_number=settings.default_access_number,
            concat_reference_bits=settings.concat_reference_bits,
            dispatch_fetch_max_wait_ms=settings.dispatch_fetch_max_wait_ms,
        )

    return create_service_app(
        settings,
        ServiceSpec(
            title="VAS sms-sender",
            version="0.1.0",
            migrations_dir=MIGRATIONS,
            routers=(api.router, operator_api.router) if settings.runs_api else (),
            direct_endpoints=(api.send_messages,) if settings.runs_api else (),
            subscriptions=subscriptions,
            on_startup=wire,
        ),
    )
