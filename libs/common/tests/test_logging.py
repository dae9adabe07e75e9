"""Logs are JSON and never carry a full MSISDN."""

from __future__ import annotations

import io
import json
import logging

import pytest

from vas_common.logging import configure_logging, mask_msisdns


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("008615912345678 and 8618612345678", "159****5678 and 186****5678"),
        ("order 12345678901", "order 12345678901"),  # not a mobile number: 2nd digit 2
        ("id 1381234567890", "id 1381234567890"),  # longer digit run: not an MSISDN
    ],
)
def test_mask_msisdns(text: str, masked: str) -> None:
    assert mask_msisdns(text) == masked


def test_log_record_masks_message_args_extras_and_exceptions() -> None:
    configure_logging("test-svc", "INFO", json=True)
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "_vas_handler", False))
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("vas.test")
    log.info(
        "sent to %s", "13812345678", extra={"msisdn": "8613987654321", "nested": {"to": ["15012345678"]}}
    )
    try:
        raise ValueError("bad number 13700001111")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "sent to 138****5678"
    assert lines[0]["msisdn"] == "139****4321"
    assert lines[0]["nested"] == {"to": ["150****5678"]}
    assert lines[0]["service"] == "test-svc"
    assert lines[0]["level"] == "INFO"
    assert "13700001111" not in stream.getvalue()
    assert "137****1111" in lines[1]["exc_info"]


def test_records_are_masked_for_every_handler() -> None:
    configure_logging("test-svc", "INFO", json=False)
    record = logging.getLogger("x").makeRecord(
        "x", logging.INFO, __file__, 1, "to %s", ("13812345678",), None
    )
    assert record.getMessage() == "to 138****5678"


def test_uvicorn_access_log_stays_off_when_uvicorn_turned_it_off() -> None:
    """`uvicorn --no-access-log` leaves the access logger without handlers and not propagating;
    uvicorn then writes an access line only if the logger has handlers somewhere. Routing it to
    our root handler would write one JSON line per request (seen at 470 requests a second)."""
    access = logging.getLogger("uvicorn.access")
    error = logging.getLogger("uvicorn.error")
    saved = [(lg, list(lg.handlers), lg.propagate) for lg in (access, error)]
    try:
        access.handlers = []
        access.propagate = False
        error.handlers = [logging.StreamHandler(io.StringIO())]
        configure_logging("test-svc", "INFO", json=True)
        assert not access.hasHandlers()
        assert error.handlers == []
        assert error.propagate

        access.handlers = [logging.StreamHandler(io.StringIO())]  # access log wanted
        configure_logging("test-svc", "INFO", json=True)
        assert access.handlers == []
        assert access.propagate
        assert access.hasHandlers()
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers, lg.propagate = handlers, propagate
