"""Spans per Kafka record and per SMPP segment cost nothing when no span is recorded, and
continue the producer's trace when spans are recorded."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from vas_common.telemetry import (
    carrier_to_kafka_headers,
    consumer_span,
    current_trace_carrier,
    fastapi_telemetry,
    instrument_fastapi,
    span,
)


def test_spans_continue_the_producers_trace_when_recorded() -> None:
    with trace.get_tracer("test").start_as_current_span("producer"):
        headers = carrier_to_kafka_headers(current_trace_carrier())
        producer_trace = trace.get_current_span().get_span_context().trace_id
    with consumer_span("consume", headers, topic="t") as consumer:
        assert consumer.is_recording()
        assert consumer.get_span_context().trace_id == producer_trace
        with span("inner") as inner:
            assert inner.get_span_context().trace_id == producer_trace


def test_no_span_and_no_context_when_nothing_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    off = TracerProvider(sampler=ALWAYS_OFF)
    with trace.get_tracer("test").start_as_current_span("producer"):
        headers = carrier_to_kafka_headers(current_trace_carrier())
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: off)
    with consumer_span("consume", headers, topic="t") as consumer:
        assert consumer is trace.INVALID_SPAN
        assert current_trace_carrier() == {}  # the record's context was not attached
        with span("inner") as inner:
            assert inner is trace.INVALID_SPAN


async def test_without_recorded_spans_a_request_passes_its_callers_trace_context_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: TracerProvider(sampler=ALWAYS_OFF))
    app = FastAPI(telemetry=fastapi_telemetry())

    @app.get("/carrier")
    async def carrier() -> dict[str, str]:
        return current_trace_carrier()  # what a Kafka record written now would carry

    instrument_fastapi(app)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        passed_on = (await client.get("/carrier", headers={"traceparent": traceparent})).json()
        without = (await client.get("/carrier")).json()
    assert passed_on["traceparent"] == traceparent
    assert without == {}
