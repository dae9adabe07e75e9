"""The migration Job's entry point (deploy/k8s/base/migrations.yaml), mounted from a ConfigMap and
run with the service image's Python: applies vas_common's and the service's migrations, exactly
as a service does at start-up with MIGRATE_ON_START=true, but as the database owner (DDL), so
the service itself can run with DML rights only.

Environment: MIGRATE_DATABASE_URL (asyncpg DSN of the owner role), MIGRATE_SERVICE (the
migrations' component name, the service's service_name), MIGRATE_DIR (its NNN_name.sql files).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from vas_common.db import COMMON_MIGRATIONS, close_pool, create_pool, migrate


async def _main() -> None:
    pool = await create_pool(os.environ["MIGRATE_DATABASE_URL"], min_size=1, max_size=1, connect_timeout_s=10)
    try:
        applied = await migrate(
            pool,
            [("common", COMMON_MIGRATIONS), (os.environ["MIGRATE_SERVICE"], Path(os.environ["MIGRATE_DIR"]))],
        )
    finally:
        await close_pool(pool)
    logging.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    asyncio.run(_main())
