"""The load generator's HTTP client against a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.types import Receive, Scope, Send
from vas_bench.http import HttpClient

from vas_devstack.net import free_port
from vas_devstack.pytest_plugin import eventually, serve_http


@dataclass
class EchoServer:
    """Answers every POST with its body and headers as JSON; counts the connections it got."""

    origin: str = ""
    connections: set[int] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.connections.add(hash(scope["client"]))
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] == "/wait":
            await self.release.wait()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = json.dumps({"body": b"".join(chunks).decode(), "headers": headers}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    app = EchoServer()
    # The server closes a connection idle for 0.3 s, as uvicorn does after 5 s by default.
    async with serve_http(app, timeout_keep_alive=0.3) as origin:
        app.origin = origin
        yield app


async def test_posts_reuse_a_kept_alive_connection(echo: EchoServer) -> None:
    async with HttpClient(echo.origin, limit=4) as client:
        for i in range(5):
            status, body = await client.post("/x", f'{{"n": {i}}}'.encode(), {"X-API-Key": "k1"})
            answer = json.loads(body)
            assert status == 201
            assert json.loads(answer["body"]) == {"n": i}
            assert answer["headers"]["x-api-key"] == "k1"
            assert answer["headers"]["content-type"] == "application/json"
        assert len(echo.connections) == 1


async def test_requests_beyond_the_limit_wait_for_a_connection(echo: EchoServer) -> None:
    async with HttpClient(echo.origin, limit=2) as client:
        waiting = [asyncio.create_task(client.post("/wait", b"{}", {})) for _ in range(3)]
        await eventually(lambda: len(echo.connections) == 2)
        assert not any(task.done() for task in waiting)
        echo.release.set()
        assert [status for status, _ in await asyncio.gather(*waiting)] == [201, 201, 201]
        assert len(echo.connections) == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused(echo: EchoServer) -> None:
    async with HttpClient(echo.origin, limit=4, max_idle_s=60) as client:
        assert (await client.post("/x", b"{}", {}))[0] == 201
        idle = list(client._idle)
        await eventually(lambda: not idle[0].reusable)  # the server's keep-alive timeout ran out
        assert (await client.post("/x", b"{}", {}))[0] == 201
        assert len(echo.connections) == 2


async def test_a_connection_idle_longer_than_max_idle_is_replaced(echo: EchoServer) -> None:
    async with HttpClient(echo.origin, limit=4, max_idle_s=0.0) as client:
        for _ in range(3):
            assert (await client.post("/x", b"{}", {}))[0] == 201
        assert len(echo.connections) == 3


async def test_a_refused_connection_raises() -> None:
    client = HttpClient(f"http://127.0.0.1:{free_port()}", limit=1)
    with pytest.raises(ConnectionRefusedError):
        await client.post("/x", b"{}", {})
    with pytest.raises(ValueError, match="only http"):
        HttpClient("https://example.invalid", limit=1)
