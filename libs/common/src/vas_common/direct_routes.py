"""Hot endpoints served straight from the middleware stack, past FastAPI's routing.

FastAPI's per-request machinery (exception middleware, async exit stack, route matching, the
route's request/response wrappers, dependency solving) costs the same for every route. For the
send endpoint under single-message load it was most of the API's CPU: with a stub service,
155 µs of server CPU a request through FastAPI against 44 µs served here.

A direct endpoint is still declared as an ordinary FastAPI route (so it is documented, and the
same function is the one implementation), but it must be `async def f(request: Request) ->
Response` with no dependencies and a path without parameters: it reads what it needs from the
request itself (see `vas_common.json_body`). This middleware calls it for requests with that
method and path, and renders what it raises with the app's own exception handlers, so errors
look exactly as they would through FastAPI; an exception without a handler is logged and
answered 500 as one from a route is.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.types import ASGIApp, Receive, Scope, Send

from vas_common.errors import unexpected_error_response

DirectEndpoint = Callable[[Request], Awaitable[Response]]


class DirectRoutes:
    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI, endpoints: Sequence[DirectEndpoint]) -> None:
        self._app = app
        self._fastapi_app = fastapi_app
        self._routes: dict[tuple[str, str], tuple[RouteContext, DirectEndpoint]] = {}
        for endpoint in endpoints:
            route = _route_of(fastapi_app, endpoint)
            for method in route.methods or ():
                self._routes[(method, str(route.path))] = (route, endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = (
            self._routes.get((scope.get("method", ""), scope.get("path", "")))
            if scope["type"] == "http"
            else None
        )
        if direct is None:
            await self._app(scope, receive, send)
            return
        route, endpoint = direct
        scope["route"] = route  # what the metrics label a request with
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                response = unexpected_error_response(request.method, request.url.path)
            else:
                response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
        handlers: dict[Any, Any] = self._fastapi_app.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            if cls in handlers:
                handler: Callable[[Request, Exception], Awaitable[Response]] = handlers[cls]
                return handler
        return None


def _route_of(app: FastAPI, endpoint: DirectEndpoint) -> RouteContext:
    routes = [r for r in iter_route_contexts(app.routes) if r.endpoint is endpoint]
    if len(routes) != 1:
        raise ValueError(f"{endpoint.__qualname__} must be the endpoint of exactly one route")
    route = routes[0]
    parameters = list(inspect.signature(endpoint).parameters)
    if route.dependant.dependencies or route.param_convertors or parameters != ["request"]:
        raise ValueError(
            f"{endpoint.__qualname__} cannot be served directly: it must take only `request`, "
            "have no dependencies and no path parameters"
        )
    return route
