"""Migrations against real PostgreSQL: once, in order, and safe with two runners at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from vas_common.db import MigrationError, create_pool, load_migrations, migrate


def write(directory: Path, name: str, sql: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(sql)


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    d = tmp_path / "migrations"
    write(d, "001_accounts.sql", "CREATE TABLE accounts (id int PRIMARY KEY, name text);")
    # Slow enough that two runners really overlap.
    write(
        d,
        "002_balance.sql",
        "SELECT pg_sleep(0.3); ALTER TABLE accounts ADD COLUMN balance int NOT NULL DEFAULT 0;",
    )
    write(d, "010_index.sql", "CREATE INDEX accounts_name ON accounts (name);")
    return d


async def columns(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY ordinal_position"
    )
    return [r["column_name"] for r in rows]


async def test_applied_once_in_order_and_recorded(database: str, migrations_dir: Path) -> None:
    pool = await create_pool(database)
    try:
        first = await migrate(pool, [("svc", migrations_dir)])
        second = await migrate(pool, [("svc", migrations_dir)])
        assert first == ["svc/001_accounts", "svc/002_balance", "svc/010_index"]
        assert second == []
        versions = await pool.fetch(
            "SELECT version FROM schema_migrations WHERE component = 'svc' ORDER BY version"
        )
        assert [r["version"] for r in versions] == [1, 2, 10]
        assert await columns(pool) == ["id", "name", "balance"]
    finally:
        await pool.close()


async def test_two_runners_at_once_leave_one_consistent_schema(database: str, migrations_dir: Path) -> None:
    # Two pools = two independent sessions, as two replicas starting together would have.
    pools = [await create_pool(database), await create_pool(database)]
    try:
        results = await asyncio.gather(*(migrate(p, [("svc", migrations_dir)]) for p in pools))
        applied = sorted(name for result in results for name in result)
        assert applied == ["svc/001_accounts", "svc/002_balance", "svc/010_index"]
        assert sorted(len(r) for r in results) == [0, 3]
        count = await pools[0].fetchval("SELECT count(*) FROM schema_migrations WHERE component = 'svc'")
        assert count == 3
        assert await columns(pools[0]) == ["id", "name", "balance"]
    finally:
        for p in pools:
            await p.close()


async def test_failed_migration_rolls_back_and_stops(database: str, tmp_path: Path) -> None:
    d = tmp_path / "broken"
    write(d, "001_ok.sql", "CREATE TABLE ok (id int);")
    write(d, "002_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    write(d, "003_later.sql", "CREATE TABLE later (id int);")
    pool = await create_pool(database)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(pool, [("svc", d)])
        tables = {
            r["tablename"]
            for r in await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert "ok" in tables
        assert "half" not in tables
        assert "later" not in tables
    finally:
        await pool.close()


async def test_edited_migration_is_refused(database: str, migrations_dir: Path) -> None:
    pool = await create_pool(database)
    try:
        await migrate(pool, [("svc", migrations_dir)])
        write(migrations_dir, "001_accounts.sql", "CREATE TABLE accounts (id bigint PRIMARY KEY);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(pool, [("svc", migrations_dir)])
    finally:
        await pool.close()


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a", "1_x.sql", "")
    with pytest.raises(MigrationError, match="NNN_name"):
        load_migrations("svc", tmp_path / "a")
    write(tmp_path / "b", "001_x.sql", "")
    write(tmp_path / "b", "0001_y.sql", "")
    with pytest.raises(MigrationError, match="used twice"):
        load_migrations("svc", tmp_path / "b")
