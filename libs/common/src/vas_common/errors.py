"""One error model: every error the HTTP API returns is RFC 9457 problem+json with a stable `code`.

Raise an `AppError` subclass anywhere below the API; `install_problem_handlers` renders it.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
from asyncpg.exceptions._base import DataError as QueryArgumentError  # a value asyncpg cannot encode
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vas_common.db import DATABASE_UNAVAILABLE, CommitOutcomeUnknown

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://vas-suite.dev/problems/"

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    """An RFC 9457 problem, as every error response carries it (for OpenAPI; the handlers below
    write it). Errors add their own members (`errors`, `limit_per_s`, ...)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code")
    instance: str | None = None


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


class InvalidValue(ValidationFailed):
    code = "invalid_value"
    title = "A value cannot be stored"


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


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
    title = "The request body must be JSON"


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 60, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **kw)


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int = 1, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **kw)


def documented(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the errors a route raises besides the common ones, from the error
    classes themselves: one entry per status, naming each code."""
    by_status: dict[int, list[type[AppError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    return {
        status: {
            "model": Problem,
            "description": "; ".join(f"`{e.code}`: {e.title}" for e in group),
        }
        for status, group in by_status.items()
    }


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
        # Extension members never replace the standard ones (RFC 9457 §3.2).
        body.update({k: v for k, v in extra.items() if k not in _STANDARD_MEMBERS})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance"})

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


def _methods_of(app: FastAPI, path: str) -> set[str]:
    """Every method some route of the app serves at `path`."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "methods_by_path", None)
    if table is None:
        table = [
            (compile_path(route.path)[0], set(route.methods or ()))
            for route in iter_route_contexts(app.routes)
            if route.path is not None
        ]
        app.state.methods_by_path = table
    return {method for regex, methods in table if regex.match(path) for method in methods}


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
        headers = dict(exc.headers or {})
        if status == 405:
            # Starlette names only the methods of the first route whose path matched; a path has
            # a route per method here.
            headers["Allow"] = ", ".join(sorted(_methods_of(request.app, request.url.path)))
        return problem_response(
            status,
            _HTTP_CODES.get(status, f"http_{status}"),
            phrase,
            str(exc.detail) if exc.detail else phrase,
            instance=request.url.path,
            headers=headers,
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

    async def on_data_error(request: Request, exc: Exception) -> JSONResponse:
        # A value the input types let through; the client's to fix, so no traceback.
        logger.warning("value refused by the database on %s %s: %s", request.method, request.url.path, exc)
        return app_error_response(
            InvalidValue("a value in the request is outside what the service can store"), request.url.path
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, on_dependency_down)
    for refused in (asyncpg.DataError, QueryArgumentError):
        app.add_exception_handler(refused, on_data_error)
    app.add_middleware(UnexpectedErrors)


def unexpected_error_response(method: str, path: str) -> JSONResponse:
    """Logs the exception being handled, once and with its traceback; a 500 without internals."""
    logger.exception("unhandled error on %s %s", method, path)
    return problem_response(500, AppError.code, AppError.title, "An unexpected error occurred")


class UnexpectedErrors:
    """What no handler took, below the routing: logged once and answered 500 problem+json.
    Starlette's server error middleware would render it too, but then re-raises it so that the
    server logs it a second time."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        response_started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_noting_start)
        except Exception:
            response = unexpected_error_response(scope["method"], scope["path"])
            if not response_started:
                await response(scope, receive, send)
