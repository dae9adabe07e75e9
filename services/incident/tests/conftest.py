from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from incident.main import create_app
from incident.settings import IncidentSettings
from vas_common.clock import ManualClock
from vas_common.staff import Role, StaffTokens
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, STAFF_TOKEN_KEY, serve, service_settings_kwargs

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class RunningIncident:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    settings: IncidentSettings

    def staff(self, role: Role) -> dict[str, str]:
        """A signed-in staff member's bearer token (as the complaints service would issue it)."""
        issued = StaffTokens(SecretStr(STAFF_TOKEN_KEY), self.clock).issue(
            f"id-{role}", f"{role}1", f"{role} 一号", role, timedelta(hours=1)
        )
        return {"Authorization": f"Bearer {issued.token}"}


def incident_settings(database: str, bootstrap: str, **overrides: Any) -> IncidentSettings:
    return IncidentSettings(
        **{
            **service_settings_kwargs(database, bootstrap),
            "signal_hold_down_s": 30.0,
            "signal_tick_interval_s": 0.2,
            "regulator_tick_interval_s": 0.3,
            **overrides,
        }
    )


@pytest.fixture
async def incident(database: str, kafka: Any) -> AsyncIterator[RunningIncident]:
    clock = ManualClock()
    settings = incident_settings(database, kafka.bootstrap)
    app = create_app(settings, clock)
    async with serve(app) as client:
        yield RunningIncident(app, client, clock, settings)


@pytest.fixture
async def replicas(
    database: str, kafka: Any
) -> AsyncIterator[tuple[list[FastAPI], list[httpx.AsyncClient], ManualClock]]:
    """Two replicas of the incident service on one database and one clock (reading no topic:
    the test hands them the reports)."""
    clock = ManualClock()
    async with AsyncExitStack() as stack:
        apps, clients = [], []
        for _ in range(2):
            app = create_app(incident_settings(database, kafka.bootstrap, consumers_enabled=False), clock)
            clients.append(await stack.enter_async_context(serve(app)))
            apps.append(app)
        yield apps, clients, clock
