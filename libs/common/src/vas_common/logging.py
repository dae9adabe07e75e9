"""JSON structured logging that never writes a full MSISDN.

Chinese mobile numbers (11 digits starting 1[3-9], optionally +86/86/0086) are masked to the
first 3 and last 4 digits, e.g. 138****5678, in the message and in every string field.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_MSISDN = re.compile(r"(?<!\d)(?:(?:\+|00)?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_msisdns(text: str) -> str:
    return _MSISDN.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class MaskingJsonFormatter(JsonFormatter):
    """Masks the whole rendered line: message, extra fields, exception and stack text."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_msisdns(super().format(record))


class MaskingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_msisdns(super().format(record))


_base_record_factory = logging.getLogRecordFactory()


def _masking_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Masking when the record is made covers every handler, also ones we did not install
    # (uvicorn's access log, test capture); extras are added later and masked by our formatters.
    record = _base_record_factory(*args, **kwargs)
    if record.args or isinstance(record.msg, str):
        record.msg = mask_msisdns(record.getMessage())
        record.args = None
    return record


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Route the root logger to stderr, JSON by default. Safe to call more than once."""
    logging.setLogRecordFactory(_masking_record_factory)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_vas_handler", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._vas_handler = True  # type: ignore[attr-defined]
    if json:
        handler.setFormatter(
            MaskingJsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                static_fields={"service": service},
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(
            MaskingTextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own handlers before the app exists; send its records through ours.
    # A logger it switched off (`--no-access-log`: no handlers, not propagating) stays off.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        if not uvicorn_logger.handlers and not uvicorn_logger.propagate:
            continue
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # aiokafka is chatty at INFO about group membership; keep it at WARNING unless asked.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # one line per outgoing request (callbacks, probes) is noise at INFO
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
