"""Who may call a route (vas_common.access): the pure parts. The services' own tests call every
route as each audience (tests/test_authorization_matrix.py)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI

from vas_common.access import (
    Audience,
    FailedAuthentications,
    TooManyFailedAttempts,
    audience_router,
    key_id_of,
    require_audiences,
)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_is_refused_for_the_rest_of_the_window_after_too_many_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Ticks()
    failures = FailedAuthentications(limit=3, window_s=60, clock=clock)
    secret = "vask_ab12cd34_ThisIsTheSecretPartOfTheKey"
    with caplog.at_level(logging.WARNING, logger="vas_common.access"):
        for _ in range(3):
            failures.check("10.0.0.1")
            failures.failed("10.0.0.1", secret, "/v1/me")
    with pytest.raises(TooManyFailedAttempts) as refused:
        failures.check("10.0.0.1")
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "60"}
    failures.check("10.0.0.2")  # another client is not affected

    clock.now += 45
    with pytest.raises(TooManyFailedAttempts) as still:
        failures.check("10.0.0.1")
    assert still.value.headers == {"Retry-After": "15"}
    clock.now += 15
    failures.check("10.0.0.1")  # a new window

    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 4  # each failure, then the refusal, and nothing more
    assert all("ab12cd34" in line for line in logged[:3])
    assert "refused" in logged[3]
    assert not any("ThisIsTheSecret" in line for line in logged)


def test_the_key_id_is_the_public_part_of_a_key_and_nothing_else() -> None:
    assert key_id_of("vask_ab12cd34_secret_with_underscores") == "ab12cd34"
    assert key_id_of(None) == "none"
    for credential in ("", "secret-only", "vask_", "vask_nounderscore", "other_ab12_x", "vask_a/b_x"):
        assert key_id_of(credential) == "malformed", credential


def test_a_route_without_an_audience_is_refused() -> None:
    declared = audience_router(Audience.OPERATOR)

    @declared.get("/fine")
    async def fine() -> None: ...

    require_audiences(declared)
    app = FastAPI()
    bare = app.router

    @bare.get("/who-may-call-this")
    async def undeclared() -> None: ...

    with pytest.raises(TypeError, match="/who-may-call-this has no audience"):
        require_audiences(bare)
