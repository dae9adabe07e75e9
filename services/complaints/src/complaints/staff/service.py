"""Staff use cases: sign-in (throttled per login and address), the check every staff request of
this service makes on the account behind its token, and the administrator's account changes.
Passwords and hashes never leave this module except into the repository, and are never logged."""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg

from complaints.staff import domain
from complaints.staff.domain import StaffAccount
from complaints.staff.passwords import Passwords
from complaints.staff.repository import LoginTaken, StaffRepository
from vas_common.clock import Clock
from vas_common.db import AdvisoryLock, DbConnection
from vas_common.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from vas_common.staff import IssuedToken, Role, StaffMember, StaffTokens

logger = logging.getLogger(__name__)


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong login or password"


class TooManyFailedSignIns(TooManyRequests):
    code = "too_many_failed_sign_ins"
    title = "Too many failed sign-ins for this login from this address; wait and try again"


class SessionEnded(Unauthorized):
    code = "session_ended"
    title = "The session has ended (account changed or deactivated): sign in again"


class SignInOff(ServiceUnavailable):
    code = "staff_sign_in_off"
    title = "Staff sign-in is not configured (no STAFF_TOKEN_KEY)"


class StaffLoginTaken(Conflict):
    code = "staff_login_taken"
    title = "Another account has this login"


class InvalidLogin(ValidationFailed):
    code = "invalid_login"
    title = "A login is 2-32 lower-case letters, digits, dots, dashes or underscores"


class PasswordTooWeak(ValidationFailed):
    code = "password_too_weak"
    title = "The password does not meet the rules"


class StaffAccountNotFound(NotFound):
    code = "staff_account_not_found"
    title = "No such staff account"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The last active administrator cannot be demoted or deactivated"


@dataclass(frozen=True)
class SignInLimits:
    failures: int = 5  # per (login, client address) in a window; then 429 until it ends
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class NewAccount:
    login: str
    display_name: str
    role: Role
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"NewAccount(login={self.login!r}, role={self.role})"


class StaffService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        tokens: StaffTokens,
        session_ttl: timedelta,
        passwords: Passwords | None = None,
        limits: SignInLimits | None = None,
        repository: StaffRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.tokens = tokens
        self._ttl = session_ttl
        self._passwords = passwords or Passwords()
        self._limits = limits or SignInLimits()
        self._accounts = repository or StaffRepository()

    # -- sign-in --------------------------------------------------------------------------

    async def sign_in(self, login: str, password: str, address: str) -> IssuedToken:
        """A session for the account, or the same 401 for an unknown login, a wrong password and
        a deactivated account; past the limit of failures 429, without looking at the password."""
        if not self.tokens.enabled:
            raise SignInOff("set STAFF_TOKEN_KEY (the same on every service) to sign staff in")
        key = domain.normalized_login(login)[:64]
        now = self._clock.now()
        since = now - self._limits.window
        async with self._pool.acquire() as conn:
            failures, window_start = await self._accounts.failures(conn, key, address, since)
            if failures >= self._limits.failures and window_start is not None:
                retry = max(1, math.ceil((window_start + self._limits.window - now).total_seconds()))
                raise TooManyFailedSignIns(
                    f"{failures} failed sign-ins for this login from this address", retry_after_s=retry
                )
            found = await self._accounts.by_login(conn, key)
        account, stored_hash = found if found is not None else (None, None)
        matched = await self._passwords.verify(stored_hash, password)
        if account is None or not matched or not account.active:
            async with self._pool.acquire() as conn:
                count = await self._accounts.count_failure(conn, key, address, now, since)
            logger.warning(
                "staff sign-in failed for login %r from %s (%d in this window)", key, address, count
            )
            raise InvalidCredentials("wrong login or password")
        async with self._pool.acquire() as conn:
            await self._accounts.clear_failures(conn, key, address)
            if stored_hash is not None and self._passwords.needs_rehash(stored_hash):
                await self._accounts.set_password(
                    conn, account.id, await self._passwords.hash(password), None
                )
        logger.info("staff %s signed in from %s", account.login, address)
        return self.tokens.issue(
            str(account.id), account.login, account.display_name, account.role, self._ttl
        )

    async def check_session(self, member: StaffMember) -> None:
        """Refuses (401) a valid token whose account was deactivated, or whose password or role
        changed after it was issued. Only this service can look; others take a token until it
        expires."""
        if member.is_operator:
            return
        try:
            account_id = UUID(member.id)
        except ValueError as exc:
            raise SessionEnded("no such account") from exc
        async with self._pool.acquire() as conn:
            account = await self._accounts.get(conn, account_id)
        if account is None or not account.accepts_session(member.issued_at):
            raise SessionEnded("the account changed since this session began: sign in again")

    # -- accounts -------------------------------------------------------------------------

    async def accounts(self) -> list[StaffAccount]:
        async with self._pool.acquire() as conn:
            return await self._accounts.all(conn)

    async def account(self, account_id: UUID) -> StaffAccount:
        async with self._pool.acquire() as conn:
            account = await self._accounts.get(conn, account_id)
        if account is None:
            raise StaffAccountNotFound(f"staff account {account_id} does not exist")
        return account

    async def create(self, new: NewAccount, actor: str) -> StaffAccount:
        login = domain.normalized_login(new.login)
        if not domain.valid_login(login):
            raise InvalidLogin(f"{login!r} is not a valid login")
        self._check_password(new.password, login)
        now = self._clock.now()
        account = StaffAccount(
            id=uuid.uuid4(),
            login=login,
            display_name=new.display_name,
            role=new.role,
            active=True,
            created_at=now,
            password_changed_at=now,
            sessions_valid_after=now,
        )
        password_hash = await self._passwords.hash(new.password)
        async with self._pool.acquire() as conn:
            try:
                await self._accounts.insert(conn, account, password_hash)
            except LoginTaken as exc:
                raise StaffLoginTaken(f"the login {login!r} is taken", extra={"login": login}) from exc
        logger.info("staff account %s (%s) created by %s", login, new.role, actor)
        return account

    async def change(
        self,
        account_id: UUID,
        actor: str,
        *,
        role: Role | None = None,
        active: bool | None = None,
        display_name: str | None = None,
    ) -> StaffAccount:
        """A new role, state or name; a change of role or state ends the account's sessions.
        The last active administrator stays one."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock_admins(conn)
            account = await self._accounts.get(conn, account_id, for_update=True)
            if account is None:
                raise StaffAccountNotFound(f"staff account {account_id} does not exist")
            changed = domain.with_changes(
                account, self._clock.now(), role=role, active=active, display_name=display_name
            )
            if changed is None:
                return account
            stays_admin = changed.role is Role.ADMIN and changed.active
            was_admin = account.role is Role.ADMIN and account.active
            if was_admin and not stays_admin and await self._accounts.active_admins(conn) <= 1:
                raise LastAdmin(f"{account.login} is the last active administrator")
            await self._accounts.update(conn, changed)
        logger.info(
            "staff account %s changed by %s: role %s, active %s",
            account.login,
            actor,
            changed.role,
            changed.active,
        )
        return changed

    async def reset_password(self, account_id: UUID, password: str, actor: str) -> None:
        """A new password set by an administrator; the account's sessions end."""
        account = await self.account(account_id)
        self._check_password(password, account.login)
        password_hash = await self._passwords.hash(password)
        async with self._pool.acquire() as conn:
            if not await self._accounts.set_password(conn, account_id, password_hash, self._clock.now()):
                raise StaffAccountNotFound(f"staff account {account_id} does not exist")
        logger.info("password of staff account %s reset by %s", account.login, actor)

    async def seed_initial_admin(self, login: str, password: str) -> StaffAccount | None:
        """The first administrator, from the settings, when there is no account at all (so that
        a new installation can be signed in to); None when accounts exist or the settings are
        not usable (logged)."""
        if not login or not password:
            return None
        login = domain.normalized_login(login)
        problem = domain.password_problem(password, login)
        if not domain.valid_login(login) or problem is not None:
            logger.error("the initial admin is not created: invalid login or password (%s)", problem)
            return None
        now = self._clock.now()
        account = StaffAccount(uuid.uuid4(), login, login, Role.ADMIN, True, now, now, now)
        password_hash = await self._passwords.hash(password)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock_admins(conn)  # two replicas starting at once seed one
            if await self._accounts.any_exists(conn):
                return None
            await self._accounts.insert(conn, account, password_hash)
        logger.info("initial staff admin %r created from the settings", login)
        return account

    async def forget_old_failures(self) -> int:
        async with self._pool.acquire() as conn:
            return await self._accounts.forget_failures_before(conn, self._clock.now() - self._limits.window)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _check_password(password: str, login: str) -> None:
        problem = domain.password_problem(password, login)
        if problem is not None:
            raise PasswordTooWeak(f"the password must have {problem}", extra={"rule": problem})

    @staticmethod
    async def _lock_admins(conn: DbConnection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", AdvisoryLock.STAFF_ACCOUNTS.value)
