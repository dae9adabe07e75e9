"""With its database hung (every PostgreSQL process stopped) the API answers 503 with
Retry-After while the database is still stopped, for writes and reads alike; once it resumes
the same requests succeed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from subscription.main import create_app
from subscription.settings import SubscriptionSettings
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.pytest_plugin import eventually, serve, service_settings_kwargs


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_a_hung_database_means_503_at_once_not_a_held_request(
    own_postgres: EmbeddedPostgres, kafka: Any, operator: dict[str, str]
) -> None:
    settings = SubscriptionSettings(**service_settings_kwargs(own_postgres.dsn(), kafka.bootstrap))
    async with serve(create_app(settings)) as client:
        created = await client.post("/v1/partners", json={"name": "cp-before"}, headers=operator)
        assert created.status_code == 201, created.text
        partner_url = f"/v1/partners/{created.json()['id']}"
        new_partner = {"name": f"cp-{uuid.uuid4().hex[:8]}"}

        with own_postgres.hung():
            # Answered while every PostgreSQL process is still stopped; a held request fails here.
            async with asyncio.timeout(30):
                write = await client.post("/v1/partners", json=new_partner, headers=operator)
                read = await client.get(partner_url, headers=operator)
        assert_unavailable(write)
        assert_unavailable(read)

        async def served_again() -> bool:
            assert (await client.get(partner_url, headers=operator)).status_code == 200
            response = await client.post("/v1/partners", json=new_partner, headers=operator)
            assert response.status_code == 201, response.text
            return True

        await eventually(served_again, timeout_s=30)
