"""Staff accounts: who may sign in, with which role, and the rules a login and a password must
follow. Pure: no I/O (hashing is in `passwords`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from complaints.sla.domain import Clock, ClockState
from vas_common.staff import Role
from vas_common.types import has_visible_character

LOGIN_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
_LOGIN = re.compile(LOGIN_PATTERN)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # argon2 takes any length; a bound keeps a request's cost bounded


@dataclass(frozen=True)
class StaffAccount:
    id: UUID
    login: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    password_changed_at: datetime
    sessions_valid_after: datetime

    def accepts_session(self, issued_at: datetime | None) -> bool:
        """Whether a session issued at `issued_at` still stands: the account is active and its
        password, role and state have not changed since (token times are whole seconds)."""
        return (
            self.active
            and issued_at is not None
            and issued_at >= self.sessions_valid_after.replace(microsecond=0)
        )


def normalized_login(login: str) -> str:
    return login.strip().lower()


def valid_login(login: str) -> bool:
    return _LOGIN.fullmatch(login) is not None


def password_problem(password: str, login: str) -> str | None:
    """Why a new password is refused, or None. Length is what counts (NIST SP 800-63B): at least
    10 characters, anything printable, not the login."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"at most {MAX_PASSWORD_LENGTH} characters"
    if any(
        ord(c) < 32 or 127 <= ord(c) < 160 or 0xD800 <= ord(c) <= 0xDFFF for c in password
    ) or not has_visible_character(password):
        return "printable characters only"
    if normalized_login(password) == login:
        return "not the login"
    return None


def with_changes(
    account: StaffAccount,
    now: datetime,
    *,
    role: Role | None = None,
    active: bool | None = None,
    display_name: str | None = None,
) -> StaffAccount | None:
    """The account after an administrator's change, or None when nothing changes. A change of
    role or state ends the account's sessions (a token carries its role)."""
    changed = replace(
        account,
        role=role if role is not None else account.role,
        active=active if active is not None else account.active,
        display_name=display_name if display_name is not None else account.display_name,
    )
    if changed == account:
        return None
    if changed.role is not account.role or changed.active is not account.active:
        changed = replace(changed, sessions_valid_after=now)
    return changed


# -- the console's view of the clocks ------------------------------------------------------


class SlaLight(StrEnum):
    """A complaint's colour in the queue: the worst of its running clocks."""

    OK = "ok"
    WARNING = "warning"  # a running clock has passed a warning (by default 50 % of its time)
    BREACHED = "breached"  # a running clock is past due
    NONE = "none"  # no clock runs


def sla_light(clocks: Sequence[Clock], now: datetime) -> SlaLight:
    running = [c for c in clocks if c.stopped_at is None]
    if not running:
        return SlaLight.NONE
    if any(c.state(now) is ClockState.BREACHED for c in running):
        return SlaLight.BREACHED
    if any(at <= now for c in running for _share, at in c.warnings):
        return SlaLight.WARNING
    return SlaLight.OK


def next_clock(clocks: Sequence[Clock]) -> Clock | None:
    """The running clock that falls due first (paused ones have no due time)."""
    due = [c for c in clocks if c.stopped_at is None and c.due_at is not None]
    return min(due, key=lambda c: c.due_at or datetime.max) if due else None
