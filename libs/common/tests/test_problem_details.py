"""Every error the API returns is RFC 9457 problem+json with a stable code."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from vas_common.app import RequestBodyRules
from vas_common.errors import Conflict, ServiceUnavailable, install_problem_handlers
from vas_devstack.pytest_plugin import serve_http


class Body(BaseModel):
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body) -> dict[str, int]:
        if body.count == 0:
            raise Conflict("thing exists", extra={"thing": "x"})
        if body.count < 0:
            raise ServiceUnavailable("broker down", retry_after_s=3)
        if body.count == 13:
            raise RuntimeError("boom with 13812345678")
        if body.count == 7:
            raise Conflict("clash", extra={"status": "open", "code": "other", "detail": "x", "state": "open"})
        return {"count": body.count}

    return app


async def call(method: str, path: str, **kw: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kw)  # type: ignore[arg-type]


async def test_app_error_is_problem_json_with_code_and_extras() -> None:
    response = await call("POST", "/things", json={"count": 0})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "conflict"
    assert body["status"] == 409
    assert body["detail"] == "thing exists"
    assert body["type"].endswith("/conflict")
    assert body["instance"] == "/things"
    assert body["thing"] == "x"


async def test_extras_never_replace_the_standard_members() -> None:
    body = (await call("POST", "/things", json={"count": 7})).json()
    assert (body["status"], body["code"], body["detail"], body["state"]) == (409, "conflict", "clash", "open")


async def test_unavailable_carries_retry_after() -> None:
    response = await call("POST", "/things", json={"count": -1})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["code"] == "service_unavailable"


async def test_request_validation_is_problem_json_listing_each_error() -> None:
    response = await call("POST", "/things", json={"count": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["loc"] == ["body", "count"]


async def test_unknown_route_and_wrong_method_are_problem_json() -> None:
    missing = await call("GET", "/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await call("GET", "/things")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_unexpected_error_hides_internals() -> None:
    response = await call("POST", "/things", json={"count": 13})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "13812345678" not in response.text


async def test_a_body_over_the_limit_is_413_problem_json_whether_declared_or_chunked() -> None:
    app = make_app()
    app.add_middleware(RequestBodyRules, max_bytes=100)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    too_long = b'{"count": 1, "padding": "' + b"x" * 200 + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: sent in chunks
        for start in range(0, len(too_long), 50):
            yield too_long[start : start + 50]

    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        declared = await client.post("/things", content=too_long, headers=json_type)
        streamed = await client.post("/things", content=chunked(), headers=json_type)
        fits = await client.post("/things", json={"count": 1})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "payload_too_large"
        assert response.json()["detail"] == "the request body is over 100 bytes"
    assert "content-length" not in streamed.request.headers
    assert fits.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/jsonx", 415),
        (None, 415),
        ("application/json", 200),
        ("Application/JSON; charset=utf-8", 200),
        ("application/merge-patch+json", 200),
    ],
)
async def test_a_body_is_taken_only_as_json(content_type: str | None, status: int) -> None:
    app = make_app()
    app.add_middleware(RequestBodyRules, max_bytes=100)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Content-Type": content_type} if content_type else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/things", content=b'{"count": 1}', headers=headers)
        no_body = await client.post("/nothing-to-send", headers={"Content-Type": "text/plain"})
    assert response.status_code == status
    if status == 415:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unsupported_media_type"
        assert response.json()["content_type"] == content_type
    assert no_body.status_code == 404  # no body, nothing to refuse


VALUES_THE_DATABASE_REFUSES = {
    "NUL in text": ("SELECT $1::text", "a\x00b"),  # CharacterNotInRepertoireError, from the server
    "NUL in jsonb": ("SELECT $1::text::jsonb", '"a\\u0000b"'),  # UntranslatableCharacterError
    "not a number": ("SELECT $1::text::integer", "12x"),  # InvalidTextRepresentationError
    "over int4": ("SELECT $1::bigint::integer", 2**31),  # NumericValueOutOfRangeError
    "over int8": ("SELECT $1::bigint", 2**63),  # asyncpg's own DataError: it cannot encode the value
}


@pytest.mark.parametrize(
    ("sql", "value"), VALUES_THE_DATABASE_REFUSES.values(), ids=VALUES_THE_DATABASE_REFUSES.keys()
)
async def test_a_value_the_database_refuses_is_422_invalid_value_logged_once_without_traceback(
    database: str, sql: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/query")
    async def query() -> None:
        connection = await asyncpg.connect(database)
        try:
            await connection.fetchval(sql, value)
        finally:
            await connection.close()

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.WARNING):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/query")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_value"
    assert [(r.levelno, r.exc_info) for r in caplog.records] == [(logging.WARNING, None)]


async def test_an_unexpected_error_is_logged_once_with_one_traceback() -> None:
    """Under a real server: Starlette's server error middleware re-raises after rendering, and
    the server logs what reaches it."""
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    async with serve_http(make_app()) as origin:
        loggers = [logging.getLogger(), logging.getLogger("uvicorn")]  # uvicorn's does not propagate
        for logger in loggers:
            logger.addHandler(capture)
        try:
            async with httpx.AsyncClient(base_url=origin) as client:
                response = await client.post("/things", json={"count": 13})
        finally:
            for logger in loggers:
                logger.removeHandler(capture)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].getMessage() == "unhandled error on POST /things"
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], RuntimeError)
