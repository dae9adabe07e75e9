"""Staff accounts and sign-in (complaints/staff) on the real PostgreSQL: password rules and
hashing, the same answer for an unknown login and a wrong password, throttling per login and
address, sessions that end when the account changes, roles on the JSON API, and the staff
member's name in the histories."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from complaints.sla.domain import SHANGHAI
from complaints.staff import domain
from complaints.staff.passwords import Passwords
from vas_common.staff import SESSION_COOKIE, Role, StaffTokens
from vas_devstack.pytest_plugin import problem_of, serve, service_settings_kwargs

Complaints = Any  # conftest.RunningComplaints
TODAY = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)  # as conftest.TODAY


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


PASSWORD = "correct horse battery"


async def account(
    client: httpx.AsyncClient, operator: dict[str, str], login: str, role: str, name: str = "王芳"
) -> dict[str, Any]:
    created = await client.post(
        "/v1/staff/accounts",
        json={"login": login, "display_name": name, "role": role, "password": PASSWORD},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def sign_in(client: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/v1/staff/sessions", json={"login": login, "password": password})


async def bearer(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    session = await sign_in(client, login)
    assert session.status_code == 201, session.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {session.json()['token']}"}


# -- passwords --------------------------------------------------------------------------------


def test_password_rules() -> None:
    assert domain.password_problem("short", "wang") == "at least 10 characters"
    assert domain.password_problem("x" * 129, "wang") == "at most 128 characters"
    assert domain.password_problem("wangfang01", "wangfang01") == "not the login"
    assert domain.password_problem("tab\there-long", "wang") == "printable characters only"
    assert domain.password_problem("\u3000" * 12, "wang") == "printable characters only"
    assert domain.password_problem("长一点的中文密码也可以吗", "wang") is None
    assert domain.password_problem(PASSWORD, "wang") is None
    assert domain.valid_login("wang.fang_01")
    assert not domain.valid_login("王芳")
    assert not domain.valid_login("a")


async def test_a_password_is_stored_as_an_argon2_hash_and_verified() -> None:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    stored = await passwords.hash(PASSWORD)
    assert stored != PASSWORD
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD + "!")
    assert not await passwords.verify(None, PASSWORD)  # no such login: a decoy is checked
    assert not await passwords.verify("not a hash", PASSWORD)
    assert not await passwords.verify(stored, "\ud800 lone surrogate")
    assert await passwords.hash(PASSWORD) != stored  # salted
    # made with other parameters than today's: hashed again at the next sign-in
    assert not passwords.needs_rehash(stored)
    assert Passwords(PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1)).needs_rehash(stored)


async def test_signing_in_rehashes_a_password_made_with_old_parameters(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    client = complaints.client
    made = await account(client, operator, "oldhash", "agent")
    staff = complaints.app.state.staff_service
    old = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    async with complaints.app.state.runtime.db().acquire() as conn:
        await conn.execute(
            "UPDATE staff_accounts SET password_hash = $2 WHERE id = $1", made["id"], await old.hash(PASSWORD)
        )
    assert (await sign_in(client, "oldhash")).status_code == 201
    async with complaints.app.state.runtime.db().acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM staff_accounts WHERE id = $1", made["id"])
    assert not staff._passwords.needs_rehash(stored)
    assert (await sign_in(client, "oldhash")).status_code == 201


# -- sign-in ----------------------------------------------------------------------------------


async def test_signing_in_sets_an_httponly_samesite_cookie_and_returns_the_token(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    client = complaints.client
    created = await account(client, operator, "wangfang", "agent")
    assert "password" not in created
    assert "password_hash" not in created
    session = await sign_in(client, "WangFang")  # logins are not case-sensitive
    assert session.status_code == 201, session.text
    body = session.json()
    assert body["staff"] == {
        "id": created["id"],
        "login": "wangfang",
        "name": "王芳",
        "role": "agent",
        "expires_at": body["expires_at"],
    }
    cookie = session.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={body['token']};")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    me = await client.get("/v1/staff/me")  # the cookie, kept by the client
    assert me.json()["login"] == "wangfang"
    out = await client.delete("/v1/staff/sessions")
    assert out.status_code == 204
    assert (await client.get("/v1/staff/me")).status_code == 401


async def test_an_unknown_login_and_a_wrong_password_get_the_same_answer(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    client = complaints.client
    await account(client, operator, "wangfang", "agent")
    wrong = problem_of(await sign_in(client, "wangfang", "not the password"), 401, "invalid_credentials")
    unknown = problem_of(await sign_in(client, "nobody", "not the password"), 401, "invalid_credentials")
    assert {k: v for k, v in wrong.items() if k != "instance"} == {
        k: v for k, v in unknown.items() if k != "instance"
    }


async def test_failed_sign_ins_are_throttled_per_login_and_address(
    database: str, kafka: Any, operator: dict[str, str]
) -> None:
    settings = ComplaintsSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        staff_sign_in_failures=3,
        staff_sign_in_window_s=600,
    )
    clock = FixedClock(TODAY)
    async with serve(create_app(settings, clock)) as client:
        await account(client, operator, "wangfang", "agent")
        await account(client, operator, "lisi", "agent")
        for _ in range(3):
            problem_of(await sign_in(client, "wangfang", "guess guess guess"), 401, "invalid_credentials")
        # the fourth try is refused without looking at the password, even the right one
        refused = problem_of(await sign_in(client, "wangfang"), 429, "too_many_failed_sign_ins")
        assert "password" not in str(refused)
        retry = await sign_in(client, "wangfang")
        assert 1 <= int(retry.headers["retry-after"]) <= 600
        # another login from the same address is not held back
        assert (await sign_in(client, "lisi")).status_code == 201
        # the window ends: the right password works again, and a success clears the count
        clock.current += timedelta(seconds=601)
        assert (await sign_in(client, "wangfang")).status_code == 201
        problem_of(await sign_in(client, "wangfang", "guess guess guess"), 401, "invalid_credentials")
        assert (await sign_in(client, "wangfang")).status_code == 201


async def test_the_session_ends_when_the_account_is_changed_or_deactivated(
    complaints: Complaints, operator: dict[str, str]
) -> None:
    client = complaints.client
    made = await account(client, operator, "wangfang", "agent")
    as_agent = await bearer(client, "wangfang")
    assert (await client.get("/v1/staff/me", headers=as_agent)).status_code == 200

    # a new role: the token carries the old one, so it ends; a new sign-in has the new role
    complaints.clock.current += timedelta(seconds=1)
    changed = await client.patch(
        f"/v1/staff/accounts/{made['id']}", json={"role": "supervisor"}, headers=operator
    )
    assert changed.json()["role"] == "supervisor"
    problem_of(await client.get("/v1/staff/me", headers=as_agent), 401, "session_ended")
    complaints.clock.current += timedelta(seconds=1)
    as_supervisor = await bearer(client, "wangfang")
    assert (await client.get("/v1/staff/me", headers=as_supervisor)).json()["role"] == "supervisor"

    # a new password ends it too
    complaints.clock.current += timedelta(seconds=1)
    reset = await client.put(
        f"/v1/staff/accounts/{made['id']}/password", json={"password": "a brand new one"}, headers=operator
    )
    assert reset.status_code == 204
    problem_of(await client.get("/v1/staff/me", headers=as_supervisor), 401, "session_ended")
    problem_of(await sign_in(client, "wangfang"), 401, "invalid_credentials")
    complaints.clock.current += timedelta(seconds=1)
    session = await sign_in(client, "wangfang", "a brand new one")
    assert session.status_code == 201

    # deactivated: its sessions end and it cannot sign in
    complaints.clock.current += timedelta(seconds=1)
    token = {"Authorization": f"Bearer {session.json()['token']}"}
    off = await client.patch(f"/v1/staff/accounts/{made['id']}", json={"active": False}, headers=operator)
    assert off.json()["active"] is False
    problem_of(await client.get("/v1/staff/me", headers=token), 401, "session_ended")
    problem_of(await sign_in(client, "wangfang", "a brand new one"), 401, "invalid_credentials")


async def test_account_rules(complaints: Complaints, operator: dict[str, str]) -> None:
    client = complaints.client
    admin = await account(client, operator, "admin1", "admin")
    problem_of(
        await client.post(
            "/v1/staff/accounts",
            json={"login": "admin1", "display_name": "又一个", "role": "agent", "password": PASSWORD},
            headers=operator,
        ),
        409,
        "staff_login_taken",
    )
    problem_of(
        await client.post(
            "/v1/staff/accounts",
            json={"login": "weak", "display_name": "弱", "role": "agent", "password": "123456"},
            headers=operator,
        ),
        422,
        "password_too_weak",
    )
    # the last active administrator stays one
    problem_of(
        await client.patch(f"/v1/staff/accounts/{admin['id']}", json={"role": "agent"}, headers=operator),
        409,
        "last_admin",
    )
    problem_of(
        await client.patch(f"/v1/staff/accounts/{admin['id']}", json={"active": False}, headers=operator),
        409,
        "last_admin",
    )
    await account(client, operator, "admin2", "admin")
    demoted = await client.patch(
        f"/v1/staff/accounts/{admin['id']}", json={"role": "agent"}, headers=operator
    )
    assert demoted.status_code == 200
    listed = (await client.get("/v1/staff/accounts", headers=operator)).text
    assert "argon2" not in listed
    assert PASSWORD not in listed


async def test_the_first_admin_is_seeded_from_the_settings_once(database: str, kafka: Any) -> None:
    settings = ComplaintsSettings(
        **service_settings_kwargs(database, kafka.bootstrap),
        initial_admin_login="admin",
        initial_admin_password="first admin password",
    )
    async with serve(create_app(settings, FixedClock(TODAY))) as client:
        session = await sign_in(client, "admin", "first admin password")
        assert session.json()["staff"]["role"] == "admin"
    # accounts exist: a restart with other settings seeds nothing
    again = settings.model_copy(update={"initial_admin_login": "admin2"})
    async with serve(create_app(again, FixedClock(TODAY))) as client:
        problem_of(await sign_in(client, "admin2", "first admin password"), 401, "invalid_credentials")


# -- roles on the JSON API, and who is named in the history -----------------------------------


async def test_roles_on_the_json_api(complaints: Complaints, operator: dict[str, str]) -> None:
    client = complaints.client
    await account(client, operator, "agent1", "agent", "李四")
    await account(client, operator, "super1", "supervisor", "张三")
    agent, supervisor = await bearer(client, "agent1"), await bearer(client, "super1")

    # an agent works complaints; the history names them
    logged = await client.post(
        "/v1/complaints",
        json={"channel": "phone", "category": "billing", "msisdn": "13800001234", "summary": "扣费不明"},
        headers=agent,
    )
    assert logged.status_code == 201, logged.text
    replied = await client.post(
        f"/v1/complaints/{logged.json()['id']}/events",
        json={"kind": "replied", "note": "已解释"},
        headers=agent,
    )
    assert [e["actor"] for e in replied.json()["history"]] == ["李四 (agent1)", "李四 (agent1)"]

    # ... reads the calendar and the policies, but changes neither
    assert (await client.get("/v1/calendar", headers=agent)).status_code == 200
    assert (await client.get("/v1/sla/policies", headers=agent)).status_code == 200
    denied = problem_of(
        await client.put("/v1/calendar/days/2026-12-24", json={"kind": "holiday"}, headers=agent),
        403,
        "role_required",
    )
    assert denied["required_role"] == "admin"
    policy = {
        "clock": "first_reply",
        "basis": "calendar",
        "target_minutes": 60,
        "channel": "web",
        "msisdn": "13800001234",
    }
    problem_of(await client.post("/v1/sla/policies", json=policy, headers=agent), 403, "role_required")
    problem_of(await client.get("/v1/staff/accounts", headers=agent), 403, "role_required")

    # a supervisor also changes policies, not the calendar or the accounts
    assert (await client.post("/v1/sla/policies", json=policy, headers=supervisor)).status_code == 201
    problem_of(
        await client.put("/v1/calendar/days/2026-12-24", json={"kind": "holiday"}, headers=supervisor),
        403,
        "role_required",
    )
    problem_of(await client.get("/v1/staff/accounts", headers=supervisor), 403, "role_required")

    # the operator token: an admin for machines, named "operator"
    put = await client.put("/v1/calendar/days/2026-12-24", json={"kind": "holiday"}, headers=operator)
    assert put.json()["updated_by"] == "operator"


@pytest.mark.parametrize("path", ["/v1/complaints", "/v1/staff/me", "/staff/complaints"])
async def test_a_token_signed_with_another_key_is_refused(complaints: Complaints, path: str) -> None:
    forged = StaffTokens(SecretStr("f" * 40), complaints.clock).issue(
        "00000000-0000-4000-8000-000000000001", "mallory", "M", Role.ADMIN, timedelta(hours=1)
    )
    answer = await complaints.client.get(path, headers={"Authorization": f"Bearer {forged.token}"})
    assert answer.status_code == 401
