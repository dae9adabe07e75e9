"""PostgreSQL plumbing: the asyncpg pool and the migrations runner.

Why a runner of our own: the maintained asyncpg migration tools we looked at (asyncpg-trek,
yoyo needs a sync driver) do not serialise two replicas starting at once. This one is small:
numbered `NNN_name.sql` files, each applied once and in order inside a transaction, recorded
in `schema_migrations` with a checksum, all under a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What repositories take: a plain connection or one borrowed from a pool.
DbConnection = asyncpg.Connection | PoolConnectionProxy

_MIGRATION_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every replica of every service.
_MIGRATIONS_LOCK_KEY = 0x7A5_0001

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


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


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    assert pool is not None
    return pool


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
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATIONS_LOCK_KEY)
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
                """
            )
            rows = await conn.fetch("SELECT component, version, checksum FROM schema_migrations")
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
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)",
                        migration.component,
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(f"{migration.component}/{migration.version:03d}_{migration.name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATIONS_LOCK_KEY)
    return applied_now
