"""One error model: every error the HTTP API returns is RFC 9457 problem+json with a stable `code`.

Raise an `AppError` subclass anywhere below the API; `install_problem_handlers` renders it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vas_common.db import DATABASE_UNAVAILABLE, CommitOutcomeUnknown

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://vas-suite.dev/problems/"

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error the suite reports to a client."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(AppError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, *, scheme: str = "Bearer", **kw: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": scheme}, **kw)


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 1, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **kw)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def app_error_response(exc: AppError, instance: str) -> JSONResponse:
    """The problem+json of one of our errors (also for middleware that answers before routing)."""
    return problem_response(
        exc.status, exc.code, exc.title, exc.detail, instance=instance, headers=exc.headers, extra=exc.extra
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error, ours and the framework's, as problem+json."""

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return app_error_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            ValidationFailed.status,
            ValidationFailed.code,
            ValidationFailed.title,
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors),
            instance=request.url.path,
            extra={"errors": errors},
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, AppError):
            # FastAPI turns anything raised while it reads a body into "400 error parsing the
            # body"; ours (a body over the limit, raised from receive) says what it is.
            return await on_app_error(request, exc.__cause__)
        status = exc.status_code
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return problem_response(
            status,
            _HTTP_CODES.get(status, f"http_{status}"),
            phrase,
            str(exc.detail) if exc.detail else phrase,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    async def on_dependency_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, CommitOutcomeUnknown):
            detail = (
                "the database did not confirm a write in time: it may or may not be stored; repeat"
                " the request with the same Idempotency-Key where the endpoint takes one"
            )
            extra = {"outcome": "unknown"}
        else:
            detail, extra = "a dependency of this service is unavailable; retry later", None
        return problem_response(
            ServiceUnavailable.status,
            ServiceUnavailable.code,
            ServiceUnavailable.title,
            detail,
            instance=request.url.path,
            headers={"Retry-After": "2"},
            extra=extra,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, AppError.code, AppError.title, "An unexpected error occurred")

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, on_dependency_down)
    app.add_exception_handler(Exception, on_unexpected)
