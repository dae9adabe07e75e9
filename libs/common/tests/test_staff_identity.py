"""Staff identity (vas_common.staff): the signed token every service verifies, the STAFF
audience's authenticator (cookie, bearer, the operator token), role checks and CSRF tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr, ValidationError

from vas_common.access import Audience, FailedAuthentications, audience_router, authenticate
from vas_common.errors import Unauthorized, install_problem_handlers
from vas_common.settings import ServiceSettings
from vas_common.staff import (
    CSRF_COOKIE,
    OPERATOR_STAFF,
    SESSION_COOKIE,
    STAFF_ROLE_EXTENSION,
    Csrf,
    CsrfFailed,
    InvalidStaffToken,
    Role,
    StaffMember,
    StaffTokens,
    require_role,
    staff_authenticator,
    staff_member,
)

KEY = SecretStr("k" * 40)
OTHER_KEY = SecretStr("o" * 40)
OPERATOR_TOKEN = SecretStr("the-operator-token")


class Clock:
    def __init__(self) -> None:
        self.current = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> StaffTokens:
    return StaffTokens(KEY, clock)


def issue(tokens: StaffTokens, role: Role = Role.AGENT, hours: float = 8) -> str:
    return tokens.issue(
        "5d1f0a56-0000-4000-8000-000000000001", "wangfang", "王芳", role, timedelta(hours=hours)
    ).token


def test_a_token_names_the_member_their_role_and_when_it_ends(tokens: StaffTokens, clock: Clock) -> None:
    issued = tokens.issue("id-1", "wangfang", "王芳", Role.SUPERVISOR, timedelta(hours=8))
    member = tokens.verify(issued.token)
    assert (member.id, member.login, member.name, member.role) == (
        "id-1",
        "wangfang",
        "王芳",
        Role.SUPERVISOR,
    )
    assert member.expires_at == clock.current + timedelta(hours=8)
    assert member.session_id == issued.member.session_id
    assert member.actor == "王芳 (wangfang)"
    assert member.has(Role.AGENT)
    assert member.has(Role.SUPERVISOR)
    assert not member.has(Role.ADMIN)
    assert "eyJ" not in repr(issued)  # the token is never printed by accident


def test_a_token_expires(tokens: StaffTokens, clock: Clock) -> None:
    token = issue(tokens, hours=8)
    clock.current += timedelta(hours=7, minutes=59)
    tokens.verify(token)
    clock.current += timedelta(minutes=1)
    with pytest.raises(InvalidStaffToken, match="expired"):
        tokens.verify(token)


def test_a_token_from_the_future_is_refused(tokens: StaffTokens, clock: Clock) -> None:
    token = issue(tokens)
    clock.current -= timedelta(minutes=5)
    with pytest.raises(InvalidStaffToken):
        tokens.verify(token)


def test_a_tampered_token_is_refused(tokens: StaffTokens) -> None:
    token = issue(tokens, Role.AGENT)
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged_payload = jwt.encode({**claims, "role": "admin"}, "x" * 40, algorithm="HS256").split(".")[1]
    with pytest.raises(InvalidStaffToken):
        tokens.verify(f"{header}.{forged_payload}.{signature}")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidStaffToken):
        tokens.verify(f"{header}.{payload}.{flipped}")
    with pytest.raises(InvalidStaffToken):
        tokens.verify("not-a-token")


def test_a_token_signed_with_another_key_or_algorithm_is_refused(tokens: StaffTokens, clock: Clock) -> None:
    elsewhere = StaffTokens(OTHER_KEY, clock)
    with pytest.raises(InvalidStaffToken):
        tokens.verify(issue(elsewhere))
    claims = jwt.decode(issue(tokens), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidStaffToken):
        tokens.verify(unsigned)


def test_a_token_with_a_role_that_does_not_exist_is_refused(tokens: StaffTokens) -> None:
    claims = jwt.decode(issue(tokens), options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "superuser"}, KEY.get_secret_value(), algorithm="HS256")
    with pytest.raises(InvalidStaffToken):
        tokens.verify(forged)


def test_without_a_key_nothing_is_issued_or_accepted(clock: Clock, tokens: StaffTokens) -> None:
    off = StaffTokens(SecretStr(""), clock)
    assert not off.enabled
    with pytest.raises(RuntimeError):
        issue(off)
    with pytest.raises(InvalidStaffToken):
        off.verify(issue(tokens))


def test_the_shared_key_must_be_long_enough_or_empty() -> None:
    assert ServiceSettings().staff_token_key.get_secret_value() == ""
    ServiceSettings(staff_token_key="x" * 32)
    with pytest.raises(ValidationError, match="at least 32"):
        ServiceSettings(staff_token_key="short")


# -- the STAFF audience ---------------------------------------------------------------------


def staff_app(tokens: StaffTokens) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    runtime = type("Runtime", (), {})()
    runtime.failed_authentications = FailedAuthentications(limit=100)
    runtime.authenticators = {Audience.STAFF: staff_authenticator(tokens, OPERATOR_TOKEN)}
    app.state.runtime = runtime
    router = audience_router(Audience.STAFF)

    @router.get("/me")
    async def me(member: Annotated[StaffMember, Depends(staff_member)]) -> dict[str, Any]:
        return {"login": member.login, "role": member.role, "actor": member.actor}

    @router.put("/calendar", dependencies=[require_role(Role.ADMIN)])
    async def calendar() -> dict[str, str]:
        return {"changed": "yes"}

    app.include_router(router)
    return app


@pytest.fixture
async def client(tokens: StaffTokens) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=staff_app(tokens))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


async def test_the_cookie_or_a_bearer_token_signs_a_staff_member_in(
    client: httpx.AsyncClient, tokens: StaffTokens
) -> None:
    token = issue(tokens)
    by_cookie = await client.get("/me", headers={"Cookie": f"{SESSION_COOKIE}={token}"})
    assert by_cookie.json() == {"login": "wangfang", "role": "agent", "actor": "王芳 (wangfang)"}
    by_bearer = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert by_bearer.json()["login"] == "wangfang"
    nobody = await client.get("/me")
    assert nobody.status_code == 401
    assert nobody.headers["content-type"] == "application/problem+json"


async def test_the_operator_token_is_a_staff_admin_for_machines(client: httpx.AsyncClient) -> None:
    operator = await client.get(
        "/me", headers={"Authorization": f"Bearer {OPERATOR_TOKEN.get_secret_value()}"}
    )
    assert operator.json() == {"login": "operator", "role": "admin", "actor": "operator"}
    # ... as a bearer token only: a cookie with it is not a session
    cookie = await client.get(
        "/me", headers={"Cookie": f"{SESSION_COOKIE}={OPERATOR_TOKEN.get_secret_value()}"}
    )
    assert cookie.status_code == 401
    assert OPERATOR_STAFF.is_operator


async def test_a_role_below_the_one_required_is_refused_with_403(
    client: httpx.AsyncClient, tokens: StaffTokens
) -> None:
    agent = await client.put("/calendar", headers={"Authorization": f"Bearer {issue(tokens, Role.AGENT)}"})
    assert agent.status_code == 403
    body = agent.json()
    assert (body["code"], body["required_role"], body["role"]) == ("role_required", "admin", "agent")
    supervisor = await client.put(
        "/calendar", headers={"Authorization": f"Bearer {issue(tokens, Role.SUPERVISOR)}"}
    )
    assert supervisor.status_code == 403
    admin = await client.put("/calendar", headers={"Authorization": f"Bearer {issue(tokens, Role.ADMIN)}"})
    assert admin.status_code == 200


async def test_a_role_check_documents_itself(tokens: StaffTokens) -> None:
    from vas_common.app import ServiceSpec, create_service_app  # the real frame: security schemes

    router = audience_router(Audience.STAFF)

    @router.put("/calendar", dependencies=[require_role(Role.ADMIN)])
    async def calendar() -> None:
        return None

    @router.get("/queue")
    async def queue() -> None:
        return None

    app = create_service_app(
        ServiceSettings(log_json=False), ServiceSpec("t", "1", migrations_dir=".", routers=[router])
    )  # type: ignore[arg-type]
    document = app.openapi()
    put = document["paths"]["/calendar"]["put"]
    assert put[STAFF_ROLE_EXTENSION] == "admin"
    assert "403" in put["responses"]
    assert put["security"] == [{"staffSession": []}, {"staffBearer": []}, {"operatorBearer": []}]
    assert document["components"]["securitySchemes"]["staffSession"]["in"] == "cookie"
    get = document["paths"]["/queue"]["get"]
    assert STAFF_ROLE_EXTENSION not in get
    assert "403" not in get["responses"]


async def test_failed_staff_authentications_count_towards_the_clients_limit(tokens: StaffTokens) -> None:
    app = staff_app(tokens)
    app.state.runtime.failed_authentications = FailedAuthentications(limit=2)
    request = Request(
        {
            "type": "http",
            "app": app,
            "headers": [(b"cookie", f"{SESSION_COOKIE}=forged".encode())],
            "client": ("10.0.0.9", 1),
            "path": "/me",
            "method": "GET",
            "query_string": b"",
        }
    )
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await authenticate(request, Audience.STAFF)
    with pytest.raises(Exception, match="failed authentications"):
        await authenticate(request, Audience.STAFF)


# -- CSRF -----------------------------------------------------------------------------------


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
    return Request({"type": "http", "headers": [(b"cookie", header)] if cookies else []})


def test_a_form_token_matches_its_browser_and_session_only() -> None:
    csrf = Csrf(KEY)
    nonce, new = csrf.nonce(request_with({}))
    assert new
    assert len(nonce) >= 16
    same, new_again = csrf.nonce(request_with({CSRF_COOKIE: nonce}))
    assert (same, new_again) == (nonce, False)
    browser = request_with({CSRF_COOKIE: nonce})
    token = csrf.token(nonce, "session-1")
    csrf.check(browser, token, "session-1")
    for presented, session in [
        (None, "session-1"),
        ("", "session-1"),
        ("forged", "session-1"),
        (token, "session-2"),
    ]:
        with pytest.raises(CsrfFailed):
            csrf.check(browser, presented, session)
    # a token made for another browser's nonce, or with another key, does not serve here
    with pytest.raises(CsrfFailed):
        csrf.check(request_with({CSRF_COOKIE: "another-nonce-of-the-attacker"}), token, "session-1")
    with pytest.raises(CsrfFailed):
        csrf.check(browser, Csrf(OTHER_KEY).token(nonce, "session-1"), "session-1")
    with pytest.raises(CsrfFailed):
        csrf.check(request_with({}), token, "session-1")  # no cookie at all
