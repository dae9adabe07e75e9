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
