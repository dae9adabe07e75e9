"""PostgreSQL plumbing: the asyncpg pool, the migrations runner and monthly range partitions.

Why a runner of our own: the maintained asyncpg migration tools we looked at (asyncpg-trek,
yoyo needs a sync driver) do not serialise two replicas starting at once. This one is small:
numbered `NNN_name.sql` files, each applied once and in order inside a transaction, recorded
in `schema_migrations` with a checksum, all under a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import IntEnum, unique
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

# What repositories take: a plain connection or one borrowed from a pool.
DbConnection = asyncpg.Connection | PoolConnectionProxy

logger = logging.getLogger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


@unique
class AdvisoryLock(IntEnum):
    """The key of every PostgreSQL advisory lock the services take, in one list so that no two
    uses share one: a second use of a key blocks the first's job, and nothing tells why. Any
    constant works; it only has to be the same in every replica of every service."""

    MIGRATIONS = 0x7A5_0001
    OUTBOX_RELAY = 0x7A5_0002
    PARTITIONS = 0x7A5_0003
    STATUS_RELAY = 0x7A5_0004
    ACCESS_NUMBERS = 0x7A5_0005
    CONTENT_RECORDS = 0x7A5_0006  # with a message's hash as the second key
    STAFF_ACCOUNTS = 0x7A5_0020  # complaints: changes that could leave no administrator


COMMON_MIGRATIONS = Path(__file__).parent / "migrations"

# Statements of background work that may run long (migrations, partition upkeep, retention's
# deletes) pass this instead of the pool's statement timeout, which bounds request paths.
MAINTENANCE_STATEMENT_TIMEOUT_S = 300.0


class CommitOutcomeUnknown(Exception):
    """COMMIT was sent and no answer came (the database stopped answering or the connection
    broke): the transaction may or may not have committed. Only an idempotent retry can tell."""


# The database is away (not: this statement is wrong): worth retrying the whole unit of work.
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    CommitOutcomeUnknown,
)


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(component: str, directory: Path) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version} is used twice in {component}")
        found[version] = Migration(component, version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): that is one more round trip on every release, the most frequent statement of
    all under load. Open transactions are still rolled back by asyncpg itself. Nothing here
    keeps session state: advisory locks are taken per transaction or unlocked explicitly
    (migrations), and the outbox relay UNLISTENs before it gives its connection back."""


class BoundedPool(asyncpg.Pool):
    """A pool whose `acquire()` waits at most `acquire_timeout_s` unless the caller passes its own
    timeout: a stopped database then shows as a TimeoutError at every call site, not a hang."""

    __slots__ = ("_acquire_timeout_s",)

    def __init__(self, dsn: str, *, acquire_timeout_s: float, **pool_kwargs: Any) -> None:
        super().__init__(dsn, **pool_kwargs)
        self._acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self._acquire_timeout_s if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    acquire_timeout_s: float = 2.0,
    statement_timeout_s: float = 5.0,
    connect_timeout_s: float = 2.0,
) -> asyncpg.Pool:
    """A pool whose waits are all bounded: for a connection (`acquire_timeout_s`), for each
    statement (`statement_timeout_s`, asyncpg's client-side command_timeout: a server that is
    stopped enforces no timeout of its own) and for a new connection's start-up
    (`connect_timeout_s`: a stopped server accepts the socket and never answers)."""
    pool = BoundedPool(
        dsn,
        acquire_timeout_s=acquire_timeout_s,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=connect_timeout_s,
        command_timeout=statement_timeout_s,
        # asyncpg prepares every statement; after five runs PostgreSQL may keep a generic plan
        # made while a table (a new month's partition, a fresh database) was nearly empty: a
        # sequential scan, kept as the table grows. Looking up 40 messages by key then cost
        # 0.23 ms a row instead of 0.03, growing with the table (seen as PostgreSQL's CPU
        # climbing through a 60 s benchmark). A plan per execution costs a little planning.
        server_settings={"plan_cache_mode": "force_custom_plan"},
    )
    return await pool


async def close_pool(pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
    """Close gracefully, but not forever: `Pool.close` waits for every connection to come
    back, and one that never does (seen after the database restarted under a pool whose
    floor was being restored) would hang the shutdown. Then the rest are terminated."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        logger.warning("database pool did not close within %.0fs; terminating its connections", timeout_s)
        pool.terminate()


async def check_database(pool: asyncpg.Pool, timeout_s: float) -> None:
    """Raise if the database does not answer within the timeout (readiness)."""

    async def ping() -> None:
        async with pool.acquire(timeout=timeout_s) as conn:
            await conn.fetchval("SELECT 1")

    await asyncio.wait_for(ping(), timeout_s)


async def migrate(pool: asyncpg.Pool, sources: list[tuple[str, Path]]) -> list[str]:
    """Apply what is not applied yet; return the names applied by this call."""
    migrations = [m for component, directory in sources for m in load_migrations(component, directory)]
    applied_now: list[str] = []
    # It may wait for another replica's migrations, and a migration's DDL may run long.
    timeout_s = MAINTENANCE_STATEMENT_TIMEOUT_S
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", int(AdvisoryLock.MIGRATIONS), timeout=timeout_s)
        try:
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    component  text        NOT NULL,
                    version    integer     NOT NULL,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, version)
                )
                """,
                timeout=timeout_s,
            )
            rows = await conn.fetch(
                "SELECT component, version, checksum FROM schema_migrations", timeout=timeout_s
            )
            done = {(r["component"], r["version"]): r["checksum"] for r in rows}
            for migration in migrations:
                key = (migration.component, migration.version)
                if key in done:
                    if done[key] != migration.checksum:
                        raise MigrationError(
                            f"{migration.component} migration {migration.version} ({migration.name}) "
                            "was changed after it was applied; add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql, timeout=timeout_s)
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                        migration.component,
                        migration.version,
                        migration.name,
                        migration.checksum,
                        timeout=timeout_s,
                    )
                applied_now.append(f"{migration.component}/{migration.version:03d}_{migration.name}")
        finally:
            await conn.execute(
                "SELECT pg_advisory_unlock($1)", int(AdvisoryLock.MIGRATIONS), timeout=timeout_s
            )
    return applied_now


# -- monthly range partitions ---------------------------------------------------------------
#
# Records tables are range-partitioned by month so that retention is mostly a partition drop.
# Partitions are named <table>_YYYYMM after the month they hold, in the time zone the service
# counts its months in.

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime  # inclusive
    upper: datetime  # exclusive


def month_start(moment: datetime, tz: tzinfo, months: int = 0) -> datetime:
    """The first instant of the month of `moment` in `tz`, moved by `months` (negative: back)."""
    local = moment.astimezone(tz)
    index = local.year * 12 + local.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)


def quote_ident(name: str) -> str:
    """A table name checked to be a plain identifier, quoted for DDL (which takes no parameters)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain table name: {name!r}")
    return f'"{name}"'


async def list_partitions(conn: DbConnection, table: str) -> tuple[list[Partition], str | None]:
    """The range partitions of `table` (oldest first) and the name of its DEFAULT partition."""
    rows = await conn.fetch(
        r"""
        SELECT name, bound, m[1]::timestamptz AS lower, m[2]::timestamptz AS upper
          FROM (SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
                  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = to_regclass($1)) AS parts,
               regexp_match(bound, $re$^FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)$re$) AS m
        """,
        table,
    )
    default = next((r["name"] for r in rows if r["bound"] == "DEFAULT"), None)
    ranged = [Partition(r["name"], r["lower"], r["upper"]) for r in rows if r["lower"] is not None]
    return sorted(ranged, key=lambda p: p.lower), default


async def ensure_monthly_partitions(
    conn: DbConnection,
    table: str,
    column: str,
    around: datetime,
    *,
    tz: tzinfo,
    months_back: int = 1,
    months_ahead: int = 2,
    fillfactor: int | None = None,
) -> list[str]:
    """Create the monthly partitions of `table` (partitioned by `column`) from `months_back`
    before the month of `around` to `months_ahead` after it; return the names created.
    `fillfactor` leaves room in each page for rows updated after they are written (an update
    that fits on its page touches no index).

    Idempotent and safe from many replicas at once. Rows that already fell into the DEFAULT
    partition for such a month (the service ran past its last partition, or a clock moved) are
    moved into the new partition, where a plain CREATE ... PARTITION OF would fail.
    """
    parent, key = quote_ident(table), quote_ident(column)
    storage = f" WITH (fillfactor = {int(fillfactor)})" if fillfactor else ""
    created: list[str] = []
    # It may wait for another replica's upkeep, and moving rows may run long.
    timeout_s = MAINTENANCE_STATEMENT_TIMEOUT_S
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1)", int(AdvisoryLock.PARTITIONS), timeout=timeout_s
        )
        existing, default = await list_partitions(conn, table)
        names = {p.name for p in existing}
        for offset in range(-months_back, months_ahead + 1):
            lower = month_start(around, tz, offset)
            upper = month_start(around, tz, offset + 1)
            name = f"{table}_{lower.strftime('%Y%m')}"
            if name in names or any(p.lower < upper and lower < p.upper for p in existing):
                continue
            part = quote_ident(name)
            bounds = f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
            strays = default is not None and await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {quote_ident(default)} WHERE {key} >= $1 AND {key} < $2)",  # noqa: S608
                lower,
                upper,
                timeout=timeout_s,
            )
            if not strays:
                await conn.execute(
                    f"CREATE TABLE {part} PARTITION OF {parent} {bounds}{storage}", timeout=timeout_s
                )
            else:
                assert default is not None
                rows = await conn.fetch(
                    "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1)"
                    " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    table,
                    timeout=timeout_s,
                )
                columns = ", ".join(quote_ident(r["attname"]) for r in rows)
                await conn.execute(
                    f"CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){storage}",
                    timeout=timeout_s,
                )
                await conn.execute(
                    f"WITH moved AS (DELETE FROM {quote_ident(default)} WHERE {key} >= $1 AND {key} < $2"  # noqa: S608
                    f" RETURNING {columns}) INSERT INTO {part} ({columns}) SELECT {columns} FROM moved",
                    lower,
                    upper,
                    timeout=timeout_s,
                )
                await conn.execute(
                    f"ALTER TABLE {parent} ATTACH PARTITION {part} {bounds}", timeout=timeout_s
                )
            created.append(name)
    return created


async def drop_partition(conn: DbConnection, name: str) -> None:
    """Drop one partition (takes a short ACCESS EXCLUSIVE lock on the parent table)."""
    await conn.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")


def rows_affected(status: str) -> int:
    """The row count of a command status such as 'DELETE 42'."""
    return int(status.rsplit(" ", 1)[-1])


async def delete_in_batches(conn: DbConnection, statement: str, *args: Any, batch: int) -> int:
    """Run a DELETE whose last parameter is its row limit until it deletes fewer than `batch`
    rows. Call it outside a transaction: each run then commits on its own, so a day's millions
    of rows never sit in one. Returns how many rows were deleted in all."""
    deleted = 0
    while True:
        count = rows_affected(
            await conn.execute(statement, *args, batch, timeout=MAINTENANCE_STATEMENT_TIMEOUT_S)
        )
        deleted += count
        if count < batch:
            return deleted
