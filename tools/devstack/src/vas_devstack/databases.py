"""Create per-service databases on any PostgreSQL server (embedded or given by DATABASE_URL)."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def dsn_with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def ensure_database(admin_dsn: str, name: str) -> str:
    """Create database `name` unless it exists; return its DSN."""
    if not _DB_NAME.match(name):
        raise ValueError(f"not a safe database name: {name!r}")
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn_with_database(admin_dsn, name)
