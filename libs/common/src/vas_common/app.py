"""The frame every service is built on: lifespan, health, readiness, metrics, errors, tracing.

A service's `create_app(settings)` describes itself with a `ServiceSpec` and calls
`create_service_app`; this module does the rest the same way for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from vas_common.access import (
    SECURITY_SCHEMES,
    Audience,
    Authenticator,
    FailedAuthentications,
    audience_router,
    require_audiences,
)
from vas_common.auth import check_operator_token
from vas_common.clock import Clock
from vas_common.db import (
    COMMON_MIGRATIONS,
    DATABASE_UNAVAILABLE,
    check_database,
    close_pool,
    create_pool,
    migrate,
)
from vas_common.direct_routes import DirectRoutes
from vas_common.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    PayloadTooLarge,
    UnsupportedMediaType,
    app_error_response,
    install_problem_handlers,
    problem_response,
)
from vas_common.events.topics import ALL_TOPICS
from vas_common.kafka import (
    ConsumerRunner,
    EventPublisher,
    MissingTopics,
    Subscription,
    check_topics,
    ensure_topics,
    keep_topics,
)
from vas_common.logging import configure_logging
from vas_common.outbox import OutboxRelay, sample_outbox
from vas_common.pages import PAGE_EXTENSION, mount_static
from vas_common.settings import ServiceSettings
from vas_common.staff import StaffTokens, staff_authenticator
from vas_common.telemetry import Metrics, configure_tracing, fastapi_telemetry, instrument_fastapi

logger = logging.getLogger(__name__)

STARTUP_DEADLINE_S = 60.0


@dataclass
class Runtime:
    """What a running service holds: its settings and its connections. Lives in app.state.runtime."""

    settings: ServiceSettings
    metrics: Metrics
    publisher: EventPublisher
    pool: asyncpg.Pool | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    relay: OutboxRelay | None = None
    # Filled by a service's on_startup: more readiness checks, and what to stop at shutdown.
    readiness_checks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    # Conditions an operator should see that do not make the service unready (it still serves,
    # on an assumption): each returns a warning, or None when all is well. /readyz reports them
    # under "warnings", also when ready.
    readiness_warnings: dict[str, Callable[[], Awaitable[str | None]]] = field(default_factory=dict)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # How each audience's callers are authenticated (vas_common.access); the operator's is set
    # here, a service with partner routes adds the partner's in its on_startup.
    authenticators: dict[Audience, Authenticator] = field(default_factory=dict)
    failed_authentications: FailedAuthentications = field(
        default_factory=lambda: FailedAuthentications(limit=20)
    )

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("database pool not open")
        return self.pool

    def every(
        self,
        name: str,
        interval_s: float,
        job: Callable[[], Awaitable[object]],
        *,
        first_after_s: float | None = None,
    ) -> None:
        """Run `job` every `interval_s` seconds until shutdown, the first time after
        `first_after_s` (default: one interval). A failure is logged and the job runs again at
        the next interval; shutdown cancels it."""

        async def loop() -> None:
            wait = interval_s if first_after_s is None else first_after_s
            while True:
                await asyncio.sleep(wait)
                wait = interval_s
                try:
                    await job()
                except Exception:
                    logger.exception("%s failed; it runs again in %.0fs", name, interval_s)

        task = asyncio.create_task(loop(), name=name)

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.on_shutdown.append(stop)


StateT = TypeVar("StateT")


def app_state(request: Request, name: str, kind: type[StateT]) -> StateT:
    """What a service's start-up put in `app.state` under `name`, checked to be a `kind`: how an
    endpoint dependency reaches its use case."""
    value = getattr(request.app.state, name)
    assert isinstance(value, kind), f"app.state.{name} is {type(value).__name__}, not {kind.__name__}"
    return value


@dataclass(frozen=True)
class ServiceSpec:
    title: str
    version: str
    migrations_dir: Path
    routers: Sequence[APIRouter] = ()
    # Called once the pool and publisher are open; returns the consumer groups to run.
    subscriptions: Callable[[Runtime], Sequence[Subscription]] = lambda _rt: ()
    # Called once the pool and publisher are open, before consumers start: wire app.state.
    on_startup: Callable[[FastAPI, Runtime], Awaitable[None]] | None = None
    uses_outbox: bool = True
    # Hot endpoints of the routers served past FastAPI's routing (see vas_common.direct_routes).
    direct_endpoints: Sequence[Callable[[Request], Awaitable[Response]]] = ()
    # Paths (prefixes) of pages whose forms post `application/x-www-form-urlencoded`; every
    # other body must be JSON (RequestBodyRules).
    form_paths: Sequence[str] = ()
    # The service's clock: staff tokens' times are read on it (None: the system clock).
    clock: Clock | None = None


async def _until_ready(what: str, start: Callable[[], Awaitable[Any]]) -> Any:
    """Start-up waits (bounded) for a dependency that may still be coming up."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(STARTUP_DEADLINE_S),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        retry=retry_if_exception_type(Exception),  # whatever keeps it from starting, until the deadline
        reraise=True,
    ):
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                logger.info("waiting for %s (attempt %d)", what, attempt.retry_state.attempt_number)
            return await start()
    raise AssertionError("unreachable")


async def _missing_topics(settings: ServiceSettings) -> MissingTopics | None:
    try:
        await check_topics(settings, ALL_TOPICS)
    except MissingTopics as exc:
        return exc
    return None


def create_service_app(settings: ServiceSettings, spec: ServiceSpec) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name, settings.trace_exporter)
    metrics = Metrics(settings.service_name)
    runtime = Runtime(
        settings=settings,
        metrics=metrics,
        publisher=EventPublisher(settings, metrics),
        failed_authentications=FailedAuthentications(
            settings.auth_failures_per_window, settings.auth_failure_window_s
        ),
    )

    async def operator(request: Request) -> None:
        check_operator_token(request, settings.operator_token)

    runtime.authenticators[Audience.OPERATOR] = operator
    # Staff signed in at the complaints service, verified here with the shared key on the
    # service's clock; the issuer, which also looks at the account, replaces it.
    runtime.authenticators[Audience.STAFF] = staff_authenticator(
        StaffTokens(settings.staff_token_key, spec.clock), settings.operator_token
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            dsn = settings.database_url.get_secret_value()
            runtime.pool = await _until_ready(
                "database",
                lambda: create_pool(
                    dsn,
                    min_size=settings.database_pool_min,
                    max_size=settings.database_pool_max,
                    acquire_timeout_s=settings.database_acquire_timeout_s,
                    statement_timeout_s=settings.database_statement_timeout_s,
                    connect_timeout_s=settings.database_connect_timeout_s,
                ),
            )
            stack.push_async_callback(close_pool, runtime.db())
            metrics.watch_pool(runtime.db())
            if settings.migrate_on_start:
                applied = await migrate(
                    runtime.db(),
                    [
                        ("common", COMMON_MIGRATIONS),
                        (settings.service_name, settings.migrations_dir or spec.migrations_dir),
                    ],
                )
                if applied:
                    logger.info("migrations applied: %s", ", ".join(applied))
            if settings.kafka_create_topics:
                await _until_ready("broker", lambda: ensure_topics(settings, ALL_TOPICS))
            else:
                # Waits for the broker, not for the topics: a missing one fails start-up at once.
                missing = await _until_ready("broker", lambda: _missing_topics(settings))
                if missing is not None:
                    raise missing
            logger.info("topics ready")
            if settings.kafka_create_topics:  # a broker that lost them (dev) gets them back
                runtime.every(
                    "topic check",
                    settings.kafka_topics_check_interval_s,
                    functools.partial(keep_topics, settings, ALL_TOPICS),
                )
            await _until_ready("broker producer", runtime.publisher.start)
            budget = settings.shutdown_step_timeout_s
            stack.push_async_callback(_bounded("the producer", runtime.publisher.stop, budget))
            if spec.on_startup is not None:
                await spec.on_startup(app, runtime)
            for stop in runtime.on_shutdown:
                stack.push_async_callback(
                    _bounded(getattr(stop, "__qualname__", "a shutdown step"), stop, budget)
                )
            if spec.uses_outbox:
                runtime.relay = OutboxRelay(runtime.db(), runtime.publisher, settings.outbox_poll_interval_s)
                await runtime.relay.start()
                stack.push_async_callback(_bounded("the outbox relay", runtime.relay.stop, budget))
            subscriptions = distinct_groups(spec.subscriptions(runtime) if settings.consumers_enabled else ())
            runners = [ConsumerRunner(settings, sub, runtime.publisher, metrics) for sub in subscriptions]
            for runner in runners:
                stack.push_async_callback(_bounded(f"consumer group {runner.group_id}", runner.stop, budget))
            # Groups join in parallel: each join waits on the broker for a moment.
            await asyncio.gather(*(runner.start() for runner in runners))
            runtime.consumers.extend(runners)
            # Stopped before the consumers (the stack unwinds in reverse).
            sampler = _MetricsSampler(runtime, outbox=spec.uses_outbox)
            sampler.start(settings.metrics_sample_interval_s)
            stack.push_async_callback(_bounded("the metrics sampler", sampler.stop, budget))
            logger.info("%s started", settings.service_name)
            yield
            logger.info("%s stopping", settings.service_name)

    app = FastAPI(title=spec.title, version=spec.version, lifespan=lifespan, telemetry=fastapi_telemetry())
    app.state.runtime = runtime
    install_problem_handlers(app)
    if spec.direct_endpoints:  # added first, so it runs inside the metrics and trace context
        app.add_middleware(DirectRoutes, fastapi_app=app, endpoints=spec.direct_endpoints)
    app.add_middleware(
        RequestBodyRules, max_bytes=settings.max_request_body_bytes, form_paths=tuple(spec.form_paths)
    )
    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    app.include_router(_health_router(runtime))
    for router in spec.routers:
        require_audiences(router)
        app.include_router(router)
    # The suite's stylesheet, in every service: a page of any of them looks the same.
    mount_static(app)
    instrument_fastapi(app)
    _document_problems_and_security(app)
    return app


class _MetricsSampler:
    """Refreshes the gauges that cost a query or a broker request to read (consumer lag, outbox
    backlog) every `metrics_sample_interval_s`, apart from the work they measure. A sample that
    fails is logged and the gauges keep their last value until the next one."""

    def __init__(self, runtime: Runtime, *, outbox: bool) -> None:
        self._runtime = runtime
        self._outbox = outbox
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        runtime = self._runtime
        if self._outbox:
            try:
                await sample_outbox(runtime.db(), runtime.metrics)
            except DATABASE_UNAVAILABLE as exc:  # readiness reports it; the lag is still worth a look
                logger.warning("outbox backlog not sampled: %s", exc)
        for runner in runtime.consumers:
            try:
                await asyncio.wait_for(runner.sample_lag(), 10.0)
            except Exception as exc:  # a broker away now and then; next time
                logger.warning("lag of group %s not sampled: %s", runner.group_id, exc)

    def start(self, interval_s: float) -> None:
        async def loop() -> None:
            while True:
                try:
                    await self.sample()
                except Exception:
                    logger.exception("metrics sample failed; again in %.0f s", interval_s)
                await asyncio.sleep(interval_s)

        self._task = asyncio.create_task(loop(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def distinct_groups(subscriptions: Sequence[Subscription]) -> Sequence[Subscription]:
    """The subscriptions, refused when two share a consumer group: they would split the topics'
    partitions between them, and each would see only part of the records."""
    groups = [sub.group_id for sub in subscriptions]
    shared = sorted({g for g in groups if groups.count(g) > 1})
    if shared:
        raise RuntimeError(f"consumer groups declared twice: {', '.join(shared)}")
    return subscriptions


# Shutdown steps still running after their time (see _bounded): kept referenced until they end.
_LATE_STEPS: set[asyncio.Task[None]] = set()


def _bounded(
    name: str, stop: Callable[[], Awaitable[None]], timeout_s: float
) -> Callable[[], Awaitable[None]]:
    """A shutdown step the rest of the shutdown waits for at most `timeout_s`: a step that hangs
    (a consumer leaving its group during a rebalance, a broker that stopped answering) is named
    in the log and left to finish on its own. It is not cancelled: a consumer cancelled half-way
    through leaving keeps heartbeating as a member that never rejoins, and its group rebalances
    for good."""

    async def run() -> None:
        started = time.monotonic()
        task = asyncio.ensure_future(stop())
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            logger.warning("shutdown: %s did not finish within %.0f s; going on without it", name, timeout_s)
            _LATE_STEPS.add(task)
            task.add_done_callback(_LATE_STEPS.discard)
            return
        task.result()  # its error, if any, as before
        took = time.monotonic() - started
        if took > timeout_s / 4:
            logger.info("shutdown: %s took %.1f s", name, took)

    return run


def _document_problems_and_security(app: FastAPI) -> None:
    """OpenAPI with the security schemes the routes name, and every error response documented
    as what it is: application/problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if operation.get(PAGE_EXTENSION):
                        continue  # a page answers its errors as pages (vas_common.pages)
                    for status, response in operation.get("responses", {}).items():
                        # FastAPI files an error's model under the route's own media type.
                        if status[:1] in ("4", "5") and response.get("content"):
                            response["content"] = {
                                PROBLEM_CONTENT_TYPE: next(iter(response["content"].values()))
                            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class RequestBodyRules:
    """A request body must be JSON and at most `max_bytes`, else 415 or 413 problem+json.

    The size: a declared Content-Length over the limit is refused before anything is read, a
    chunked body when the bytes received pass it (`PayloadTooLarge` raised from `receive`,
    rendered by the problem handlers). FastAPI's own `max_body_size` answers in plain text.
    The type: every body this suite takes is JSON, so a body whose Content-Type is not
    `application/json` or `application/*+json`, or that has none, is refused before routing.
    FastAPI's `strict_content_type` only makes such a body fail validation (422), and the send
    endpoint parses its body itself; one look at the headers here serves both. The one
    exception is a page's form (`ServiceSpec.form_paths`): `application/x-www-form-urlencoded`
    there, which is how a browser posts a form without JavaScript."""

    def __init__(self, app: ASGIApp, max_bytes: int, form_paths: tuple[str, ...] = ()) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._form_paths = form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = content_type = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = value
        # The HTTP server has checked that the body is as long as it says.
        if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
            await self._refuse(self._too_large(), scope, receive, send)
            return
        has_body = declared != b"0" if declared is not None else chunked is not None
        if (
            has_body
            and not is_json_media_type(content_type)
            and not (is_form_media_type(content_type) and scope["path"].startswith(self._form_paths))
        ):
            error = UnsupportedMediaType(
                "send the body as JSON with 'Content-Type: application/json'",
                extra={"content_type": content_type.decode("latin-1") if content_type else None},
            )
            await self._refuse(error, scope, receive, send)
            return
        if declared is not None:
            await self._app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max_bytes:
                raise self._too_large()
            return message

        await self._app(scope, counted, send)

    @staticmethod
    async def _refuse(error: AppError, scope: Scope, receive: Receive, send: Send) -> None:
        await app_error_response(error, scope["path"])(scope, receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is over {self._max_bytes} bytes")


def is_form_media_type(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    return content_type.partition(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"


def is_json_media_type(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class _MetricsMiddleware:
    """Counts requests and their latency per route template (not per path: one series per
    id would be unbounded). Plain ASGI: `BaseHTTPMiddleware` costs a task and a stream per
    request, which showed in the API's profile."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = scope["method"]
            self._metrics.http_requests.labels(method, route, str(status)).inc()
            self._metrics.http_latency.labels(method, route).observe(time.perf_counter() - started)


def _health_router(runtime: Runtime) -> APIRouter:
    router = audience_router(Audience.PUBLIC, tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Database and broker are reachable (and warnings that do not stop the service)",
        response_model=None,
    )
    async def readyz() -> Response | dict[str, Any]:
        timeout = runtime.settings.readiness_timeout_s
        checks: dict[str, str] = {}

        async def probe(name: str, check: Callable[[], Awaitable[None]]) -> None:
            try:
                await check()
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the reason is reported
                checks[name] = f"unavailable: {type(exc).__name__}: {exc}".rstrip(": ")

        warnings: dict[str, str] = {}

        async def warn(name: str, check: Callable[[], Awaitable[str | None]]) -> None:
            try:
                warning = await asyncio.wait_for(check(), timeout)
            except Exception as exc:  # a warning's own failure is one more warning, never unready
                warning = f"could not be checked: {type(exc).__name__}: {exc}".rstrip(": ")
            if warning is not None:
                warnings[name] = warning

        await asyncio.gather(
            probe("database", lambda: check_database(runtime.db(), timeout)),
            probe("broker", lambda: runtime.publisher.check(timeout)),
            *(probe(name, check) for name, check in runtime.readiness_checks.items()),
            *(warn(name, check) for name, check in runtime.readiness_warnings.items()),
        )
        failing = {k: v for k, v in checks.items() if v != "ok"}
        if failing:
            return problem_response(
                503,
                "not_ready",
                "Service not ready",
                "; ".join(f"{k} {v}" for k, v in failing.items()),
                headers={"Retry-After": "1"},
                extra={"checks": checks, "warnings": warnings},
            )
        return {"status": "ready", "checks": checks, "warnings": warnings}

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics() -> Response:
        body, content_type = runtime.metrics.render()
        return Response(body, media_type=content_type)

    return router
