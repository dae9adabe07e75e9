"""Staff SQL: accounts and the failed sign-ins of the current window."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from complaints.staff.domain import StaffAccount
from vas_common.db import DbConnection
from vas_common.staff import Role

_COLUMNS = "id, login, display_name, role, active, created_at, password_changed_at, sessions_valid_after"


def _account(row: asyncpg.Record) -> StaffAccount:
    values = {k: row[k] for k in _COLUMNS.replace(" ", "").split(",")}
    values["role"] = Role(values["role"])
    return StaffAccount(**values)


class LoginTaken(Exception):
    pass


class StaffRepository:
    async def get(
        self, conn: DbConnection, account_id: UUID, *, for_update: bool = False
    ) -> StaffAccount | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM staff_accounts WHERE id = $1{lock}", account_id)
        return _account(row) if row else None

    async def by_login(self, conn: DbConnection, login: str) -> tuple[StaffAccount, str] | None:
        """The account and its password hash (only sign-in reads the hash)."""
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS}, password_hash FROM staff_accounts WHERE login = $1", login
        )
        return (_account(row), str(row["password_hash"])) if row else None

    async def all(self, conn: DbConnection) -> list[StaffAccount]:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM staff_accounts ORDER BY login")
        return [_account(r) for r in rows]

    async def any_exists(self, conn: DbConnection) -> bool:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM staff_accounts)"))

    async def active_admins(self, conn: DbConnection) -> int:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM staff_accounts WHERE role = 'admin' AND active"
        )
        return count

    async def insert(self, conn: DbConnection, account: StaffAccount, password_hash: str) -> None:
        try:
            await conn.execute(
                f"""
                INSERT INTO staff_accounts ({_COLUMNS}, password_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """,
                account.id,
                account.login,
                account.display_name,
                account.role.value,
                account.active,
                account.created_at,
                account.password_changed_at,
                account.sessions_valid_after,
                password_hash,
            )
        except asyncpg.UniqueViolationError as exc:
            raise LoginTaken(account.login) from exc

    async def update(self, conn: DbConnection, account: StaffAccount) -> None:
        await conn.execute(
            """
            UPDATE staff_accounts SET display_name = $2, role = $3, active = $4, sessions_valid_after = $5
             WHERE id = $1
            """,
            account.id,
            account.display_name,
            account.role.value,
            account.active,
            account.sessions_valid_after,
        )

    async def set_password(
        self, conn: DbConnection, account_id: UUID, password_hash: str, changed_at: datetime | None
    ) -> bool:
        """A new hash; with `changed_at` a new password (the account's sessions end), without it
        the same password hashed again with today's parameters."""
        status = await conn.execute(
            """
            UPDATE staff_accounts SET password_hash = $2,
                   password_changed_at = coalesce($3, password_changed_at),
                   sessions_valid_after = coalesce($3, sessions_valid_after)
             WHERE id = $1
            """,
            account_id,
            password_hash,
            changed_at,
        )
        return status.endswith(" 1")

    # -- failed sign-ins ------------------------------------------------------------------

    async def failures(
        self, conn: DbConnection, login: str, address: str, since: datetime
    ) -> tuple[int, datetime | None]:
        """Failures in the window that started after `since`, and when that window started."""
        row = await conn.fetchrow(
            "SELECT failures, window_start FROM staff_login_failures"
            " WHERE login = $1 AND address = $2 AND window_start > $3",
            login,
            address,
            since,
        )
        return (int(row["failures"]), row["window_start"]) if row else (0, None)

    async def count_failure(
        self, conn: DbConnection, login: str, address: str, now: datetime, since: datetime
    ) -> int:
        """One more failure; a window that started at or before `since` starts again now."""
        failures: int = await conn.fetchval(
            """
            INSERT INTO staff_login_failures (login, address, window_start, failures) VALUES ($1, $2, $3, 1)
            ON CONFLICT (login, address) DO UPDATE SET
                failures = CASE WHEN staff_login_failures.window_start > $4
                                THEN staff_login_failures.failures + 1 ELSE 1 END,
                window_start = CASE WHEN staff_login_failures.window_start > $4
                                    THEN staff_login_failures.window_start ELSE $3 END
            RETURNING failures
            """,
            login,
            address,
            now,
            since,
        )
        return failures

    async def clear_failures(self, conn: DbConnection, login: str, address: str) -> None:
        await conn.execute(
            "DELETE FROM staff_login_failures WHERE login = $1 AND address = $2", login, address
        )

    async def forget_failures_before(self, conn: DbConnection, since: datetime) -> int:
        status = await conn.execute("DELETE FROM staff_login_failures WHERE window_start <= $1", since)
        return int(status.split()[-1])
