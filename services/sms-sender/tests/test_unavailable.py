"""With its database down, or hung, the API answers 503 with Retry-After at once: nothing is
answered 202 and then dropped. When the database is back, sending works again."""

from __future__ import annotations

import asyncio
from typing import Any

from sms_sender.main import create_app
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.pytest_plugin import eventually, serve


async def test_database_down_means_503_not_202(
    own_postgres: EmbeddedPostgres, kafka: Any, sms_settings: Any, make_partner: Any
) -> None:
    async with serve(create_app(sms_settings(own_postgres.dsn(), kafka, readiness_timeout_s=1.0))) as client:
        partner = await make_partner(client)()
        request = {"recipients": ["13812345678"], "content": "hello", "category": "notice"}
        assert (await client.post("/v1/messages", headers=partner.headers, json=request)).status_code == 202

        own_postgres.stop("fast")
        down = await client.post("/v1/messages", headers=partner.headers, json=request)
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "service_unavailable"
        assert int(down.headers["retry-after"]) >= 1

        own_postgres.start()

        async def accepted_again() -> bool:
            response = await client.post("/v1/messages", headers=partner.headers, json=request)
            assert response.status_code == 202, response.text
            return True

        await eventually(accepted_again, timeout_s=30)


async def test_a_hung_database_means_503_at_once_not_a_held_request(
    own_postgres: EmbeddedPostgres, kafka: Any, sms_settings: Any, make_partner: Any
) -> None:
    async with serve(create_app(sms_settings(own_postgres.dsn(), kafka))) as client:
        partner = await make_partner(client)()
        request = {"recipients": ["13812345678"], "content": "hello", "category": "notice"}
        headers = {**partner.headers, "Idempotency-Key": "hung-1"}
        assert (await client.post("/v1/messages", headers=partner.headers, json=request)).status_code == 202

        with own_postgres.hung():
            # Answered while every PostgreSQL process is still stopped; a held request fails here.
            async with asyncio.timeout(30):
                down = await client.post("/v1/messages", headers=headers, json=request)
        assert down.status_code == 503, down.text
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["code"] == "service_unavailable"
        # From the accept itself, or from the key lookup before it: either way nothing was stored.
        assert down.json().get("outcome", "not_accepted") == "not_accepted"
        assert int(down.headers["retry-after"]) >= 1

        async def accepted_again() -> bool:
            response = await client.post("/v1/messages", headers=headers, json=request)
            assert response.status_code == 202, response.text
            return True

        await eventually(accepted_again, timeout_s=30)
