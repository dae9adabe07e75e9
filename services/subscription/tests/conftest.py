from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from subscription.main import create_app
from subscription.settings import SubscriptionSettings
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, serve, service_settings_kwargs


@pytest.fixture
async def subscription_client(database: str, kafka: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = SubscriptionSettings(**service_settings_kwargs(database, kafka.bootstrap))
    async with serve(create_app(settings)) as client:
        yield client


@pytest.fixture
def operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
