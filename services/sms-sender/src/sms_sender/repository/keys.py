"""Keys the migrations generate once per installation (for example the status-event cursor key)."""

from __future__ import annotations

from vas_common.db import DbConnection


class ServiceKeyRepository:
    async def service_key(self, conn: DbConnection, name: str) -> bytes:
        key: bytes | None = await conn.fetchval("SELECT value FROM service_keys WHERE name = $1", name)
        if key is None:
            raise LookupError(f"no service key {name!r}: are the migrations applied?")
        return key
