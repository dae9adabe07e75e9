"""Spans leave the process over OTLP/HTTP when TRACE_EXPORTER=otlp: a local receiver that
speaks the OTLP protocol (protobuf request on /v1/traces) gets them; an exporter name the
suite does not know stops the service at start-up instead of recording spans for no one."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import ValidationError

from vas_common.settings import ServiceSettings
from vas_common.telemetry import configure_tracing, tracer_provider
from vas_devstack.pytest_plugin import eventually, serve_http


def otlp_receiver(received: list[ExportTraceServiceRequest]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        received.append(export)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    return app


async def test_spans_reach_an_otlp_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[ExportTraceServiceRequest] = []
    async with serve_http(otlp_receiver(received)) as origin:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", origin)  # the standard variable
        provider = tracer_provider("otlp-test", "otlp")
        try:
            tracer = provider.get_tracer("test")
            with tracer.start_as_current_span("send sms") as parent:
                with tracer.start_as_current_span("submit_sm"):
                    pass
                trace_id = parent.get_span_context().trace_id
            # The exporter posts from its own thread and blocks until answered: not on the
            # loop that serves the receiver.
            assert await asyncio.to_thread(provider.force_flush, 10_000)
            await eventually(lambda: received)
        finally:
            await asyncio.to_thread(provider.shutdown)

    spans = {
        span.name: span
        for export in received
        for resource_spans in export.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    }
    assert set(spans) == {"send sms", "submit_sm"}
    assert spans["submit_sm"].parent_span_id == spans["send sms"].span_id
    assert int.from_bytes(spans["send sms"].trace_id, "big") == trace_id
    resource = received[0].resource_spans[0].resource
    attributes = {a.key: a.value.string_value for a in resource.attributes}
    assert attributes["service.name"] == "otlp-test"


def test_an_unknown_trace_exporter_is_a_start_up_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACE_EXPORTER", "jaeger")
    with pytest.raises(ValidationError, match="trace_exporter"):
        ServiceSettings()
    with pytest.raises(ValueError, match="TRACE_EXPORTER must be one of none, console, otlp"):
        configure_tracing("svc", "jaeger")  # also when a provider is installed already
    with pytest.raises(ValueError, match="TRACE_EXPORTER"):
        tracer_provider("svc", "OTLP")


def test_the_known_exporters_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("none", "console", "otlp"):
        monkeypatch.setenv("TRACE_EXPORTER", name)
        assert ServiceSettings().trace_exporter == name
