"""The database roles of deploy/k8s/base/database.yaml and the migration Job's script
(deploy/k8s/base/migrate.py), on a real PostgreSQL: the Job migrates as the owner, and the
service's role can then read and write every table the migrations made but change no schema.

The Cluster's postInitApplicationSQL is run as CloudNativePG would run it after initdb (as the
superuser, in the service's database), with the role names made unique to this test.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATABASE_YAML = ROOT / "deploy" / "k8s" / "base" / "database.yaml"
MIGRATE = ROOT / "deploy" / "k8s" / "base" / "migrate.py"


def _as_user(dsn: str, user: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:pw@{host}"))


def _cluster(service: str) -> dict:  # type: ignore[type-arg]
    (cluster,) = (
        doc
        for doc in yaml.safe_load_all(DATABASE_YAML.read_text())
        if doc and doc["metadata"]["name"] == f"vas-{service}-db"
    )
    return cluster


@pytest.mark.parametrize("service", ["incident", "complaints"])
async def test_migration_job_as_owner_then_service_role_has_dml_only(database: str, service: str) -> None:
    db = service.replace("-", "_")
    cluster = _cluster(service)
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert initdb["owner"] == f"{db}_owner"
    assert "inRoles" not in cluster["spec"]["managed"]["roles"][0], "this service runs no DDL itself"
    role = f"t_{uuid.uuid4().hex[:10]}"
    database_name = urlsplit(database).path.lstrip("/")

    def rename(statement: str) -> str:
        statement = re.sub(rf"\b{db}_owner\b", f"{role}_owner", statement)
        statement = re.sub(rf"\bDATABASE {db}\b", f'DATABASE "{database_name}"', statement)
        return re.sub(rf"\b{db}\b", role, statement)

    admin = await asyncpg.connect(database)
    try:
        # What initdb does: the owner role owns the database (and so the public schema).
        await admin.execute(f"CREATE ROLE {role}_owner LOGIN")
        await admin.execute(f'ALTER DATABASE "{database_name}" OWNER TO {role}_owner')
        await admin.execute(f"ALTER SCHEMA public OWNER TO {role}_owner")
        for statement in initdb["postInitApplicationSQL"]:
            await admin.execute(rename(statement))
    finally:
        await admin.close()

    env = {
        **os.environ,
        "MIGRATE_DATABASE_URL": _as_user(database, f"{role}_owner"),
        "MIGRATE_SERVICE": service,
        "MIGRATE_DIR": str(ROOT / "services" / service / "migrations"),
    }
    job = await asyncio.create_subprocess_exec(
        sys.executable, str(MIGRATE), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(job.communicate(), timeout=120)
    assert job.returncode == 0, stderr.decode()
    assert "migrations applied: " in stderr.decode()

    app = await asyncpg.connect(_as_user(database, role))
    try:
        tables = [
            r["tablename"]
            for r in await app.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        assert "schema_migrations" in tables
        for table in tables:
            # Names straight from pg_tables, quoted.
            await app.fetch(f'SELECT * FROM "{table}" LIMIT 1')  # noqa: S608
        await app.execute("CREATE TEMP TABLE scratch (x int)")  # temp tables are not the schema
        async with app.transaction():
            await app.execute("DELETE FROM outbox WHERE false")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("CREATE TABLE intruder (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("ALTER TABLE schema_migrations ADD COLUMN x int")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("DROP TABLE schema_migrations")
    finally:
        await app.close()
