"""Sign-in and the staff accounts' admin API. Signing in sets the session cookie every service
of the suite accepts (vas_common.staff) and returns the token for scripts."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from complaints.deps import Actor, ClientAddress, Member, Staff
from complaints.staff.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    PasswordIn,
    SessionOut,
    SignInIn,
    StaffOut,
)
from complaints.staff.service import (
    InvalidCredentials,
    InvalidLogin,
    LastAdmin,
    NewAccount,
    PasswordTooWeak,
    SignInOff,
    StaffAccountNotFound,
    StaffLoginTaken,
    TooManyFailedSignIns,
)
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.staff import Role, clear_session_cookie, require_role, set_session_cookie

sessions_router = audience_router(Audience.PUBLIC, prefix="/v1/staff/sessions", tags=["staff sign-in"])
me_router = audience_router(Audience.STAFF, prefix="/v1/staff", tags=["staff sign-in"])
accounts_router = audience_router(
    Audience.STAFF,
    prefix="/v1/staff/accounts",
    tags=["staff accounts (admin)"],
    dependencies=[require_role(Role.ADMIN)],
)


@sessions_router.post(
    "",
    status_code=201,
    response_model=SessionOut,
    responses=documented(InvalidCredentials, TooManyFailedSignIns, SignInOff),
)
async def sign_in(
    body: SignInIn, request: Request, response: Response, staff: Staff, address: ClientAddress
) -> SessionOut:
    """Sign in: the session cookie (HttpOnly, SameSite=Lax) and the same token in the answer.
    A wrong login and a wrong password get the same 401; too many failures for the login from
    this address get 429 until the window ends."""
    issued = await staff.sign_in(body.login, body.password.get_secret_value(), address or "unknown")
    set_session_cookie(response, request, issued)
    return SessionOut.of(issued)


@sessions_router.delete("", status_code=204)
async def sign_out(request: Request) -> Response:
    """Sign out of this browser: the cookie is removed. (A token copied elsewhere stays valid
    until it expires, as a signed token does.)"""
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


@me_router.get("/me", response_model=StaffOut)
async def me(member: Member) -> StaffOut:
    """Who is signed in, with which role, until when."""
    return StaffOut.of(member)


@accounts_router.get("", response_model=list[AccountOut])
async def accounts(staff: Staff) -> list[AccountOut]:
    return [AccountOut.of(a) for a in await staff.accounts()]


@accounts_router.post(
    "",
    status_code=201,
    response_model=AccountOut,
    responses=documented(StaffLoginTaken, InvalidLogin, PasswordTooWeak),
)
async def create_account(body: AccountIn, staff: Staff, actor: Actor) -> AccountOut:
    new = NewAccount(body.login, body.display_name, body.role, body.password.get_secret_value())
    return AccountOut.of(await staff.create(new, actor))


@accounts_router.get("/{account_id}", response_model=AccountOut, responses=documented(StaffAccountNotFound))
async def account(account_id: UUID, staff: Staff) -> AccountOut:
    return AccountOut.of(await staff.account(account_id))


@accounts_router.patch(
    "/{account_id}", response_model=AccountOut, responses=documented(StaffAccountNotFound, LastAdmin)
)
async def change_account(account_id: UUID, body: AccountPatch, staff: Staff, actor: Actor) -> AccountOut:
    """Role, active, display name; a new role or a deactivation ends the account's sessions."""
    changed = await staff.change(
        account_id, actor, role=body.role, active=body.active, display_name=body.display_name
    )
    return AccountOut.of(changed)


@accounts_router.put(
    "/{account_id}/password",
    status_code=204,
    responses=documented(StaffAccountNotFound, PasswordTooWeak),
)
async def reset_password(account_id: UUID, body: PasswordIn, staff: Staff, actor: Actor) -> Response:
    """A new password (tell it to the person another way); the account's sessions end."""
    await staff.reset_password(account_id, body.password.get_secret_value(), actor)
    return Response(status_code=204)
