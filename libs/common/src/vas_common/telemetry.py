"""OpenTelemetry tracing and Prometheus metrics.

A trace started by an HTTP request is carried in W3C `traceparent` headers on every Kafka
record (and in the outbox row that produces it), so the consumer's span joins the same trace.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, get_args

import asyncpg
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, Tracer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from vas_common.settings import TraceExporter

KafkaHeaders = list[tuple[str, bytes]]


TRACE_EXPORTERS: tuple[str, ...] = get_args(TraceExporter)


def tracer_provider(service: str, exporter: str) -> TracerProvider:
    """The provider for `exporter`: "none" records nothing, "console" prints spans, "otlp" sends
    them over OTLP/HTTP (protobuf) to where the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) says. Any other name is refused: a typo must not leave
    a service recording spans that nothing exports."""
    if exporter not in TRACE_EXPORTERS:
        raise ValueError(f"TRACE_EXPORTER must be one of {', '.join(TRACE_EXPORTERS)}, not {exporter!r}")
    # With nowhere to export to, spans are not recorded (recording them was ~10 % of a
    # dispatcher's CPU); the HTTP middleware still passes a caller's trace context on to the
    # Kafka records a request produces. Per-record spans are skipped (see `spans_recorded`).
    sampler = ALWAYS_OFF if exporter == "none" else ParentBased(ALWAYS_ON)
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Install a tracer provider unless one is installed already (tests install their own first).
    An unknown exporter is an error also then."""
    provider = tracer_provider(service, exporter)
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        provider.shutdown()
        return
    trace.set_tracer_provider(provider)


@functools.cache
def tracer(name: str) -> Tracer:
    """One tracer per name: `trace.get_tracer` builds a new one each call (10 % of a
    dispatcher's CPU when it was called per submit_sm). Before a provider is installed it
    returns a proxy that follows the provider installed later."""
    return trace.get_tracer(name)


def fastapi_telemetry() -> TelemetryConfig | None:
    """`FastAPI(telemetry=...)`: FastAPI's own spans are made whenever an SDK provider is
    installed, also one that records nothing; then they are off (see `instrument_fastapi`)."""
    if spans_recorded():
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def instrument_fastapi(app: FastAPI) -> None:
    """A server span per request when spans are recorded; otherwise only the caller's trace
    context is taken in, so the Kafka records the request produces still carry it (the full
    instrumentation making a span no one records was ~8 % of the API's CPU)."""
    if not spans_recorded():
        app.add_middleware(_IncomingTraceContext)
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No spans for each ASGI send/receive event: two or three per request, and no one reads them.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )


class _IncomingTraceContext:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _TRACE_HEADERS
        }
        if not carrier:
            await self._app(scope, receive, send)
            return
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self._app(scope, receive, send)
        finally:
            otel_context.detach(token)


_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


def current_trace_carrier() -> dict[str, str]:
    """The active trace context as W3C headers (empty when there is no active span)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def carrier_to_kafka_headers(carrier: Mapping[str, str]) -> KafkaHeaders:
    return [(k, v.encode()) for k, v in carrier.items()]


def kafka_headers_to_carrier(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        try:
            out[key] = value.decode()
        except (UnicodeDecodeError, AttributeError):
            continue
    return out


def spans_recorded() -> bool:
    """False when the installed provider records no span at all (no exporter configured)."""
    return getattr(trace.get_tracer_provider(), "sampler", None) is not ALWAYS_OFF


@contextmanager
def span(name: str) -> Iterator[trace.Span]:
    """An INTERNAL span in the current trace; nothing at all when spans are not recorded (a
    span made and dropped for every segment sent cost ~4 % of a dispatcher's CPU)."""
    if not spans_recorded():
        yield trace.INVALID_SPAN
        return
    with tracer("vas").start_as_current_span(name) as current:
        yield current


@contextmanager
def consumer_span(
    name: str, headers: Iterable[tuple[str, bytes]] | None, **attributes: Any
) -> Iterator[trace.Span]:
    """A CONSUMER span that continues the producer's trace found in the record headers; when
    spans are not recorded, nothing (extracting and attaching a context per record cost
    ~5 % of a dispatcher's CPU at 1,800 messages a second)."""
    if not spans_recorded():
        yield trace.INVALID_SPAN
        return
    parent = propagate.extract(kafka_headers_to_carrier(headers))
    token = otel_context.attach(parent)
    try:
        with tracer("vas_common.kafka").start_as_current_span(name, kind=SpanKind.CONSUMER) as span:
            for key, value in attributes.items():
                span.set_attribute(key, value)
            yield span
    finally:
        otel_context.detach(token)


class Metrics:
    """A service's Prometheus registry with the metrics the plumbing itself reports, and the
    process and runtime metrics of prometheus_client's default registry (CPU, memory, open
    files, garbage collections, Python version), which a private registry does not get."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.events_consumed = Counter(
            "kafka_records_consumed_total",
            "Kafka records handled",
            ["topic", "outcome"],
            registry=self.registry,
        )
        self.events_dead_lettered = Counter(
            "kafka_records_dead_lettered_total",
            "Records sent to a dead-letter topic",
            ["topic"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "kafka_records_published_total", "Records published", ["topic"], registry=self.registry
        )
        # Sampled every metrics_sample_interval_s (vas_common.app), not per record.
        self.consumer_lag = Gauge(
            "kafka_consumer_lag_records",
            "Records on a partition this process's group member holds that the group has not "
            "committed yet (the partition's end offset minus the committed offset)",
            ["group", "topic", "partition"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "outbox_pending_events",
            "Events in the outbox not yet published (counted up to 100,000)",
            registry=self.registry,
        )
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_event_age_seconds",
            "Age of the oldest event in the outbox (0 when it is empty)",
            registry=self.registry,
        )
        self._pool_connections = Gauge(
            "db_pool_connections",
            "Connections of the service's PostgreSQL pool, by state (in_use, idle)",
            ["state"],
            registry=self.registry,
        )
        self._pool_max = Gauge(
            "db_pool_max_connections", "Most connections the pool opens", registry=self.registry
        )

    def watch_pool(self, pool: asyncpg.Pool) -> None:
        """Report the pool's connections, read at each scrape (asyncpg keeps the counts)."""
        self._pool_connections.labels("idle").set_function(pool.get_idle_size)
        self._pool_connections.labels("in_use").set_function(lambda: pool.get_size() - pool.get_idle_size())
        self._pool_max.set_function(pool.get_max_size)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
