from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sms_sender.main import create_app
from sms_sender.settings import SmsSenderSettings
from vas_devstack.pytest_plugin import serve, service_settings_kwargs


@pytest.fixture
async def sms_sender_client(database: str, kafka: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = SmsSenderSettings(**service_settings_kwargs(database, kafka.bootstrap))
    async with serve(create_app(settings)) as client:
        yield client
