from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from complaints.calendar.domain import SHANGHAI
from complaints.calendar.service import CalendarService
from complaints.main import create_app
from complaints.settings import ComplaintsSettings
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, serve, service_settings_kwargs

# The day these tests take as today: chinesecalendar 1.11.0 (pinned) knows 2026, not 2027.
TODAY = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


@dataclass
class RunningComplaints:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FixedClock

    @property
    def calendar(self) -> CalendarService:
        service = self.app.state.calendar_service
        assert isinstance(service, CalendarService)
        return service


@pytest.fixture
async def complaints(database: str, kafka: Any) -> AsyncIterator[RunningComplaints]:
    clock = FixedClock(TODAY)
    app = create_app(ComplaintsSettings(**service_settings_kwargs(database, kafka.bootstrap)), clock)
    async with serve(app) as client:
        yield RunningComplaints(app, client, clock)


@pytest.fixture
def operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
