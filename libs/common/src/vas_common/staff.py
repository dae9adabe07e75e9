"""Staff identity for the whole suite: one sign-in, verified by every service.

Accounts live in one place (the complaints service, which issues the tokens); every service
verifies them with the shared key `STAFF_TOKEN_KEY`, so the incident and quality pages take the
same sign-in as the complaints console without asking the complaints service.

- **The token** is a JWT (RFC 7519, HS256, PyJWT) with the staff member's id (`sub`), login,
  name, role, issue and expiry times and a session id (`jti`). JWT rather than an itsdangerous
  signed blob: the same claims and the same verification would serve tokens from an OIDC
  provider (RS256 with its JWKS) when one is configured, and PyJWT needs nothing for HS256.
  Times are checked here against the service's clock, not PyJWT's, so tests on a fixed clock
  and services on one agree.
- **The session cookie** (`vas_staff`) holds the token: HttpOnly, SameSite=Lax, Secure when the
  request came over https, no Max-Age (gone with the browser; the token expires anyway). The
  same token is accepted as `Authorization: Bearer`, for scripts. Path `/`: services on one host
  (ports do not separate cookies) share the sign-in.
- **The operator token** stays for machines: on a staff route it is accepted as the pseudo staff
  member `operator` with the admin role, so automation keeps working.
- **CSRF**: forms carry a token (`csrf_token`) that is an HMAC, under the shared key, of a random
  nonce kept in the `vas_csrf` cookie (SameSite=Strict, HttpOnly) and of the session id. A site
  that can plant a cookie still cannot forge the field; one session's field does not serve
  another. Only a request authenticated by the cookie needs it: a bearer token is never sent by
  a browser on its own. The JSON API takes only JSON bodies (415 otherwise), which a form on
  another site cannot send, and the cookie is not sent on another site's POST (SameSite=Lax).
- **Roles**: agent < supervisor < admin. `require_role(Role.SUPERVISOR)` is a dependency that
  answers 403 `role_required` and documents itself in OpenAPI (`x-staff-role`, the 403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, Request, Response
from pydantic import SecretStr

from vas_common.access import principal
from vas_common.auth import bearer_token
from vas_common.clock import Clock, SystemClock
from vas_common.errors import Forbidden, Problem, Unauthorized
from vas_common.settings import MIN_KEY_LENGTH  # RFC 7518 wants at least 256 bits for HS256

SESSION_COOKIE = "vas_staff"
CSRF_COOKIE = "vas_csrf"
CSRF_FIELD = "csrf_token"
# Names of the token's kind, not secrets:
TOKEN_ALGORITHM = "HS256"  # noqa: S105
TOKEN_AUDIENCE = "vas-staff"  # noqa: S105
TOKEN_ISSUER = "vas-complaints"  # noqa: S105
STAFF_ROLE_EXTENSION = "x-staff-role"
OPERATOR_LOGIN = "operator"


class Role(StrEnum):
    AGENT = "agent"  # works complaints
    SUPERVISOR = "supervisor"  # also SLA policies and the attainment figures
    ADMIN = "admin"  # also the calendar and the staff accounts

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANKS = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class StaffMember:
    """Who a staff route is serving: a signed-in staff member, or the operator token."""

    id: str  # the account's id; "operator" for the operator token
    login: str
    name: str
    role: Role
    session_id: str | None = None  # the token's jti; None for the operator token
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def is_operator(self) -> bool:
        return self.session_id is None and self.login == OPERATOR_LOGIN

    @property
    def actor(self) -> str:
        """How the member is named in a history (complaint events, calendar changes)."""
        return OPERATOR_LOGIN if self.is_operator else f"{self.name} ({self.login})"

    def has(self, role: Role) -> bool:
        return self.role.at_least(role)


OPERATOR_STAFF = StaffMember(id=OPERATOR_LOGIN, login=OPERATOR_LOGIN, name=OPERATOR_LOGIN, role=Role.ADMIN)


class RoleRequired(Forbidden):
    code = "role_required"
    title = "Your role does not allow this"


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    title = "The form is stale or was not sent from this site; reload the page and try again"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    member: StaffMember

    @property
    def expires_at(self) -> datetime:
        assert self.member.expires_at is not None
        return self.member.expires_at

    def __repr__(self) -> str:  # never print the token by accident
        return f"IssuedToken(member={self.member!r})"


class InvalidStaffToken(Unauthorized):
    code = "unauthorized"


def usable_key(key: SecretStr) -> bool:
    return len(key.get_secret_value()) >= MIN_KEY_LENGTH


class StaffTokens:
    """Issues (complaints only) and verifies staff tokens with the shared key. Without a key of
    at least MIN_KEY_LENGTH characters nothing is issued and every token is refused."""

    def __init__(self, key: SecretStr, clock: Clock | None = None) -> None:
        self._key = key.get_secret_value() if usable_key(key) else None
        self._clock = clock or SystemClock()

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def issue(self, staff_id: str, login: str, name: str, role: Role, ttl: timedelta) -> IssuedToken:
        if self._key is None:
            raise RuntimeError("staff sign-in is off: set STAFF_TOKEN_KEY (at least 32 characters)")
        now = self._clock.now().astimezone(UTC).replace(microsecond=0)
        member = StaffMember(
            id=staff_id,
            login=login,
            name=name,
            role=role,
            session_id=uuid.uuid4().hex,
            issued_at=now,
            expires_at=now + ttl,
        )
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": staff_id,
            "login": login,
            "name": name,
            "role": role.value,
            "jti": member.session_id,
            "iat": int(now.timestamp()),
            "exp": int(member.expires_at.timestamp()),  # type: ignore[union-attr]
        }
        return IssuedToken(jwt.encode(claims, self._key, algorithm=TOKEN_ALGORITHM), member)

    def verify(self, token: str) -> StaffMember:
        """The staff member a token names; InvalidStaffToken (401) when it is not signed with the
        key, names no valid role, or has expired (or was issued in the future)."""
        if self._key is None:
            raise InvalidStaffToken("staff sign-in is not configured on this service")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                # times are checked below, against this service's clock
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["sub", "jti", "iat", "exp", "role", "login", "name"],
                },
            )
            role = Role(claims["role"])
            issued = datetime.fromtimestamp(int(claims["iat"]), UTC)
            expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
            member = StaffMember(
                id=str(claims["sub"]),
                login=str(claims["login"]),
                name=str(claims["name"]),
                role=role,
                session_id=str(claims["jti"]),
                issued_at=issued,
                expires_at=expires,
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, OSError) as exc:
            raise InvalidStaffToken("invalid staff token") from exc
        now = self._clock.now()
        if now >= expires:
            raise InvalidStaffToken("the staff session has expired: sign in again")
        if issued > now + _CLOCK_SKEW:
            raise InvalidStaffToken("invalid staff token")
        return member


_CLOCK_SKEW = timedelta(minutes=1)


def presented_staff_token(request: Request) -> tuple[str | None, bool]:
    """(the staff token of the request, whether it came in the cookie)."""
    bearer = bearer_token(request)
    if bearer is not None:
        return bearer, False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def staff_authenticator(
    tokens: StaffTokens,
    operator_token: SecretStr,
    check: Callable[[StaffMember], Awaitable[None]] | None = None,
) -> Callable[[Request], Awaitable[StaffMember]]:
    """The STAFF audience's authenticator: the operator token (as OPERATOR_STAFF), else a staff
    token as bearer or in the session cookie; `check` may refuse a valid token further (the
    issuer's look at the account: deactivated, password or role changed since)."""

    async def authenticate(request: Request) -> StaffMember:
        token, from_cookie = presented_staff_token(request)
        if token is None:
            raise Unauthorized("sign in: no staff session cookie or bearer token")
        expected = operator_token.get_secret_value()
        if not from_cookie and expected and hmac.compare_digest(token.encode(), expected.encode()):
            return OPERATOR_STAFF
        member = tokens.verify(token)
        if check is not None:
            await check(member)
        request.state.staff_from_cookie = from_cookie
        return member

    return authenticate


def staff_member(request: Request) -> StaffMember:
    """The signed-in staff member of a STAFF route."""
    return principal(request, StaffMember)


class _RoleCheck:
    """A dependency that requires a role, and says so in OpenAPI (see vas_common.access)."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.openapi_extra = {STAFF_ROLE_EXTENSION: role.value}
        self.responses: dict[int | str, dict[str, Any]] = {
            403: {"model": Problem, "description": f"`{RoleRequired.code}`: needs the {role} role or above"}
        }

    async def __call__(self, request: Request) -> StaffMember:
        member = staff_member(request)
        if not member.has(self.role):
            raise RoleRequired(
                f"this needs the {self.role} role; you are {member.role}",
                extra={"required_role": self.role.value, "role": member.role.value},
            )
        return member

    def __repr__(self) -> str:
        return f"require_role({self.role})"


def require_role(role: Role) -> Any:
    """`Depends` on the staff member having `role` or a higher one (403 `role_required`)."""
    return Depends(_RoleCheck(role))


# -- cookies ---------------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, issued: IssuedToken) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


# -- CSRF ------------------------------------------------------------------------------------


class Csrf:
    """Form tokens bound to a browser (the `vas_csrf` nonce cookie) and to its staff session."""

    def __init__(self, key: SecretStr) -> None:
        # A key of its own, derived from the shared one: a form token is never a valid signature
        # of anything else.
        secret = key.get_secret_value()
        self._key = hashlib.sha256(b"vas-csrf\x00" + secret.encode()).digest() if secret else None

    def nonce(self, request: Request) -> tuple[str, bool]:
        """(the browser's nonce, whether it is new and must be set with `set_nonce`)."""
        existing = request.cookies.get(CSRF_COOKIE, "")
        if 16 <= len(existing) <= 64 and existing.isascii():
            return existing, False
        return secrets.token_urlsafe(18), True

    def token(self, nonce: str, session_id: str | None) -> str:
        if self._key is None:
            return ""
        mac = hmac.new(self._key, f"{nonce}\x00{session_id or ''}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def check(self, request: Request, presented: str | None, session_id: str | None) -> None:
        """CsrfFailed (403) unless the form's token matches the browser's nonce and session."""
        nonce = request.cookies.get(CSRF_COOKIE)
        if self._key is None or not nonce or not presented:
            raise CsrfFailed("the form carries no valid CSRF token")
        if not hmac.compare_digest(presented.encode(), self.token(nonce, session_id).encode()):
            raise CsrfFailed("the form's CSRF token does not match this browser's session")

    @staticmethod
    def set_nonce(response: Response, request: Request, nonce: str) -> None:
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/"
        )
