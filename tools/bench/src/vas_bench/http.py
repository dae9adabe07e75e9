"""The load generator's HTTP/1.1 client: keep-alive connections, one request in flight on each.

Why not aiohttp (used before): on this 2-core machine the load generator shares the CPU with
the stack it measures, and aiohttp took ~270 µs of CPU per request at 800 req/s, 22 % of a
core that the stack under test could not have. This client frames the request itself (a few
headers, a JSON body) and leaves parsing the response to `httptools` (the parser uvicorn uses):
35 instead of 107 µs a request in a client loop, 13 instead of 22 % of a core at 800 req/s in
the benchmark. It is a benchmark tool, not a general client: no redirects, no chunked request
bodies, no TLS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools


class HttpError(Exception):
    """The connection failed or closed before the whole response arrived."""


class Response(NamedTuple):
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._answer: asyncio.Future[Response] | None = None
        self.reusable = True
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        assert self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad response: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer, self._answer = self._answer, None
        body, self._body = b"".join(self._body), []
        headers, self._headers = self._headers, {}
        self.reusable = self._parser.should_keep_alive()
        if answer is not None and not answer.done():
            answer.set_result(Response(self._parser.get_status_code(), headers, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(HttpError(f"connection lost: {exc}" if exc else "connection closed"))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """POSTs to one origin over up to `limit` keep-alive connections (one request each at a
    time). Callers beyond `limit` wait for a free connection.

    A connection idle for `max_idle_s` is not reused: the server closes idle ones (uvicorn after
    5 s), and a request written into a connection it is closing would fail."""

    def __init__(self, origin: str, *, limit: int, timeout_s: float = 60.0, max_idle_s: float = 2.0) -> None:
        parts = urlsplit(origin)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only http://host:port origins: {origin!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._host_header = parts.netloc
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._timeout_s = timeout_s
        self._max_idle_s = max_idle_s
        self._open: set[_Connection] = set()

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """(status, body) of a POST with a JSON body; raises HttpError or TimeoutError."""
        response = await self.post_full(path, body, headers)
        return response.status, response.body

    async def post_full(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """The whole response (status, headers, body) of a POST with a JSON body."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host_header}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            conn = self._idle_connection() or await self._connect()
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await conn.send(request)
            except BaseException:
                conn.reusable = False
                raise
            finally:
                if conn.reusable:
                    conn.idle_since = time.monotonic()
                    self._idle.append(conn)
                else:
                    self._discard(conn)
            return answer

    def _idle_connection(self) -> _Connection | None:
        """The most recently used live connection; older ones are closed."""
        horizon = time.monotonic() - self._max_idle_s
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable and conn.idle_since >= horizon:
                return conn
            self._discard(conn)
        return None

    async def _connect(self) -> _Connection:
        _, conn = await asyncio.get_running_loop().create_connection(_Connection, self._host, self._port)
        self._open.add(conn)
        return conn

    def _discard(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn.transport is not None:
            conn.transport.close()

    async def close(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._idle.clear()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
