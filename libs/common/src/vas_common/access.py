"""Who may call a route: every route declares its audience, and the caller is authenticated for
it before anything else about the request is looked at.

A router made with `audience_router(Audience.PARTNER, ...)` gives each of its routes:
- authentication before FastAPI reads, parses or validates the body: a request without valid
  credentials gets 401 (or 429 after too many failures), never a 422 that tells a stranger
  what the body should be;
- the principal (whatever the audience's authenticator returns) in `request.state.principal`,
  which the endpoint's dependencies read instead of authenticating again;
- in OpenAPI: the audience (`x-audience`), the security requirement, and the problem+json
  responses every such route can give.

The authenticators are the service's (`Runtime.authenticators`): the operator's is the same
everywhere, a partner's is looked up in the service's own data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from functools import cache
from typing import Any, ClassVar, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute

from vas_common.auth import API_KEY_PREFIX, presented_credential
from vas_common.errors import AppError, Problem, Unauthorized

logger = logging.getLogger(__name__)


class Audience(StrEnum):
    PUBLIC = "public"  # anyone: health, the public catalogue and status pages
    PARTNER = "partner"  # a content provider, with its API key
    OPERATOR = "operator"  # the provider's operations, with the operator token
    STAFF = "staff"  # the provider's staff, signed in (consoles)


AUDIENCE_EXTENSION = "x-audience"

# How each audience presents its credentials, as OpenAPI security schemes.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "partnerApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The partner's API key",
    },
    "partnerBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The partner's API key as a bearer token",
    },
    "operatorBearer": {"type": "http", "scheme": "bearer", "description": "The operator token"},
    "staffSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "vas_staff",
        "description": "A staff member's session cookie, set by signing in (POST /v1/staff/sessions or"
        " the /staff/login form of the complaints service); see vas_common.staff",
    },
    "staffBearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A staff token (what POST /v1/staff/sessions returns) as a bearer token",
    },
}
_SECURITY: dict[Audience, list[dict[str, list[str]]]] = {
    Audience.PUBLIC: [],
    Audience.PARTNER: [{"partnerApiKey": []}, {"partnerBearer": []}],
    Audience.OPERATOR: [{"operatorBearer": []}],
    # a signed-in staff member, or the operator token (machines) as the pseudo member "operator"
    Audience.STAFF: [{"staffSession": []}, {"staffBearer": []}, {"operatorBearer": []}],
}

Authenticator = Callable[[Request], Awaitable[object]]
PrincipalT = TypeVar("PrincipalT")


class TooManyFailedAttempts(AppError):
    status = 429
    code = "too_many_failed_attempts"
    title = "Too many failed authentication attempts"


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# What any route may answer besides its own errors (documented so that clients and the fuzzer
# know every status and its problem+json shape).
_COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: _problem("The request body is too large"),
    503: _problem("A dependency (database, broker) is unavailable; retry after Retry-After seconds"),
}
_AUTHENTICATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing, invalid or revoked credentials"),
    429: _problem("Too many requests, or too many failed authentication attempts from this client"),
}
VALIDATION_RESPONSE: dict[int | str, dict[str, Any]] = {422: _problem("The request is not valid")}
MALFORMED_BODY_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: _problem("The body could not be read as JSON text (for example, it is not UTF-8)")
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: _problem("No such resource, or not one of the caller's")
}


class FailedAuthentications:
    """Failed authentications per client, in fixed windows: past `limit` failures in a window a
    client is refused (429) until the window ends, whatever it presents, so that keys cannot be
    guessed at speed. Each failure is logged with the key id the credential claims (the part of
    `vask_<id>_<secret>` before the secret), never the credential itself."""

    _MAX_CLIENTS = 10_000  # beyond this, the oldest windows are forgotten

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, failures)

    def check(self, client: str) -> None:
        started, failures = self._windows.get(client, (0.0, 0))
        now = self._clock()
        if failures >= self._limit and now - started < self._window_s:
            retry = max(1, int(self._window_s - (now - started) + 0.999))
            raise TooManyFailedAttempts(
                f"{failures} failed authentications from this client; retry in {retry}s",
                headers={"Retry-After": str(retry)},
            )

    def failed(self, client: str, credential: str | None, path: str) -> None:
        now = self._clock()
        started, failures = self._windows.get(client, (now, 0))
        if now - started >= self._window_s:
            started, failures = now, 0
        failures += 1
        if client not in self._windows and len(self._windows) >= self._MAX_CLIENTS:
            for stale in list(self._windows)[: self._MAX_CLIENTS // 10]:
                del self._windows[stale]
        self._windows[client] = (started, failures)
        if failures <= self._limit:
            logger.warning(
                "authentication failed on %s from %s with key id %s (%d in this window)",
                path,
                client,
                key_id_of(credential),
                failures,
            )
        if failures == self._limit:
            logger.warning(
                "client %s refused for %.0fs after %d failed authentications",
                client,
                self._window_s,
                failures,
            )


def key_id_of(credential: str | None) -> str:
    """The public key id of a `vask_<id>_<secret>` credential; never any of the secret."""
    if credential is None:
        return "none"
    prefix, _, rest = credential.partition("_")
    key_id, sep, _secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not sep or not key_id.isalnum() or len(key_id) > 16:
        return "malformed"
    return key_id


async def authenticate(request: Request, audience: Audience) -> object:
    """The principal of the request for `audience`, or Unauthorized / TooManyFailedAttempts."""
    runtime = request.app.state.runtime
    client = request.client.host if request.client else "unknown"
    failures: FailedAuthentications = runtime.failed_authentications
    failures.check(client)
    try:
        return await runtime.authenticators[audience](request)
    except Unauthorized:
        failures.failed(client, presented_credential(request), request.url.path)
        raise


class _AudienceRoute(APIRoute):
    audience: ClassVar[Audience]

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = dict(kwargs.get("openapi_extra") or {})
        extra.setdefault(AUDIENCE_EXTENSION, self.audience.value)
        if _SECURITY[self.audience]:
            extra.setdefault("security", _SECURITY[self.audience])
        kwargs["openapi_extra"] = extra
        common = (
            _COMMON_RESPONSES
            if self.audience is Audience.PUBLIC
            else {**_AUTHENTICATED_RESPONSES, **_COMMON_RESPONSES}
        )
        kwargs["responses"] = {**common, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)
        if "{" in self.path:
            # a path id may name nothing, or nothing of the caller's
            self.responses = {**NOT_FOUND_RESPONSE, **self.responses}
        if self.body_field is not None or "requestBody" in extra:
            self.responses = {**MALFORMED_BODY_RESPONSE, **self.responses}
        if (
            self.body_field is not None
            or "requestBody" in extra
            or get_flat_params(self.dependant)  # path, query and header parameters, also of dependencies
        ):
            self.responses = {**VALIDATION_RESPONSE, **self.responses}
        for documenting in _documenting_dependencies(self.dependant):
            self.openapi_extra = {**(self.openapi_extra or {}), **documenting.openapi_extra}
            self.responses = {**self.responses, **documenting.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.audience is Audience.PUBLIC:
            return handler
        audience = self.audience

        async def authenticated_first(request: Request) -> Response:
            request.state.principal = await authenticate(request, audience)
            return await handler(request)

        return authenticated_first


def _documenting_dependencies(dependant: Dependant) -> list[Any]:
    """The route's dependencies that document what they add (a role check: its 403 and
    `x-staff-role`): callables with `openapi_extra` and `responses` attributes."""
    found = []
    for dependency in dependant.dependencies:
        call = dependency.call
        if hasattr(call, "openapi_extra") and hasattr(call, "responses"):
            found.append(call)
        found += _documenting_dependencies(dependency)
    return found


AudienceRoute = _AudienceRoute  # to derive route classes from (vas_common.pages)


@cache
def route_class(audience: Audience) -> type[APIRoute]:
    return type(f"{audience.value.title()}Route", (_AudienceRoute,), {"audience": audience})


def audience_router(audience: Audience, **kwargs: Any) -> APIRouter:
    """An APIRouter whose every route is for `audience` (see the module's docstring)."""
    return APIRouter(route_class=route_class(audience), **kwargs)


def principal(request: Request, kind: type[PrincipalT]) -> PrincipalT:
    """What the route's authenticator returned for this request."""
    found = request.state.principal
    assert isinstance(found, kind), f"{request.url.path}: the route's audience does not authenticate a {kind}"
    return found


def require_audiences(router: APIRouter) -> None:
    """Every route must say who may call it: a route without an audience is a mistake."""
    for route in router.routes:
        if isinstance(route, APIRoute) and not isinstance(route, _AudienceRoute):
            raise TypeError(f"route {route.path} has no audience: make its router with audience_router()")
