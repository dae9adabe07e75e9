"""HTTP shapes of sign-in and the staff accounts. A password comes in, never goes out."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field, SecretStr, StrictBool

from complaints.staff.domain import LOGIN_PATTERN, MAX_PASSWORD_LENGTH, StaffAccount
from vas_common.staff import IssuedToken, Role, StaffMember
from vas_common.types import SingleLineText

DisplayName = SingleLineText


class SignInIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class StaffOut(BaseModel):
    """Who is signed in (the token's claims)."""

    id: str
    login: str
    name: str
    role: Role
    expires_at: datetime | None

    @classmethod
    def of(cls, member: StaffMember) -> StaffOut:
        return cls(
            id=member.id, login=member.login, name=member.name, role=member.role, expires_at=member.expires_at
        )


class SessionOut(BaseModel):
    """The session: also set as the HttpOnly cookie; `token` serves as a bearer token."""

    token: str
    expires_at: datetime
    staff: StaffOut

    @classmethod
    def of(cls, issued: IssuedToken) -> SessionOut:
        return cls(token=issued.token, expires_at=issued.expires_at, staff=StaffOut.of(issued.member))


class AccountIn(BaseModel):
    login: str = Field(pattern=LOGIN_PATTERN, description="lower-case letters, digits, . _ -")
    display_name: DisplayName = Field(max_length=50)
    role: Role
    password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH, description="at least 10 characters")


class AccountPatch(BaseModel):
    role: Role | None = None
    active: StrictBool | None = Field(default=None, description="false deactivates: its sessions end")
    display_name: DisplayName | None = Field(default=None, max_length=50)


class PasswordIn(BaseModel):
    password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH, description="at least 10 characters")


class AccountOut(BaseModel):
    id: UUID
    login: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    password_changed_at: datetime

    @classmethod
    def of(cls, a: StaffAccount) -> AccountOut:
        return cls(
            id=a.id,
            login=a.login,
            display_name=a.display_name,
            role=a.role,
            active=a.active,
            created_at=a.created_at,
            password_changed_at=a.password_changed_at,
        )
