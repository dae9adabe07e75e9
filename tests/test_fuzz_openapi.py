"""Every service's OpenAPI document, fuzzed by schemathesis against the running services (a real
broker and PostgreSQL behind them), as the partner and the operator the documents' security
schemes name: no 5xx, and every response as documented (status, content type, headers, schema).
Bounded and seeded, so a run is repeatable; a failure prints schemathesis's own reproduction."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from complaints.main import create_app as complaints_app
from complaints.settings import ComplaintsSettings
from incident.main import create_app as incident_app
from incident.settings import IncidentSettings
from sms_sender.main import create_app as sms_sender_app
from sms_sender.settings import SmsSenderSettings
from subscription.main import create_app as subscription_app
from subscription.settings import SubscriptionSettings
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve_http, service_settings_kwargs

CONFIG = Path(__file__).parent / "fuzz" / "schemathesis.toml"
SEED = 20261203
EXAMPLES = 60  # per operation and phase: ~1 min for the four services


@pytest.fixture
async def origins(postgres: Any, kafka: Any) -> AsyncIterator[dict[str, str]]:
    """The four services on HTTP ports of their own (schemathesis runs in another process)."""
    apps = {
        "subscription": lambda db: subscription_app(
            SubscriptionSettings(**service_settings_kwargs(db, kafka.bootstrap))
        ),
        "sms-sender": lambda db: sms_sender_app(
            SmsSenderSettings(**{**service_settings_kwargs(db, kafka.bootstrap), "role": "api"})
        ),
        "complaints": lambda db: complaints_app(
            # the public form's per-number limit (tested in the complaints tests) would answer
            # most fuzzed requests with 429
            ComplaintsSettings(
                **service_settings_kwargs(db, kafka.bootstrap),
                web_complaints_per_number_per_hour=1_000_000,
                web_complaints_per_address_per_hour=1_000_000,
                # likewise the failed sign-ins per login and address (tested in the staff tests)
                staff_sign_in_failures=1_000_000,
            )
        ),
        "incident": lambda db: incident_app(IncidentSettings(**service_settings_kwargs(db, kafka.bootstrap))),
    }
    async with AsyncExitStack() as stack:
        found: dict[str, str] = {}
        for name, make in apps.items():
            manager = await stack.enter_async_context(
                LifespanManager(make(await postgres.new_database(name[:3])), startup_timeout=90)
            )
            found[name] = await stack.enter_async_context(serve_http(manager.app))
        yield found


async def a_partner(origins: dict[str, str]) -> str:
    async with httpx.AsyncClient() as client:
        created = await client.post(
            origins["subscription"] + "/v1/partners",
            json={"name": f"fuzz-{uuid.uuid4().hex[:8]}", "profile": {"signature": "【模糊】"}},
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        )
        key = str(created.json()["api_key"])

        async def known() -> bool:
            me = await client.get(origins["sms-sender"] + "/v1/me", headers={"X-API-Key": key})
            return me.status_code == 200

        await eventually(known)
    return key


async def test_no_operation_answers_5xx_or_other_than_documented(
    origins: dict[str, str], tmp_path: Path
) -> None:
    async def fuzz(name: str, origin: str) -> str | None:
        # A partner of its own for each document: fuzzing the operator routes may rotate keys.
        env = {
            **os.environ,
            "VAS_FUZZ_PARTNER_KEY": await a_partner(origins),
            "VAS_FUZZ_OPERATOR_TOKEN": OPERATOR_TOKEN,
        }
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            origin + "/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(EXAMPLES),
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--generation-with-security-parameters",
            "false",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / name),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            return f"--- {name} (exit {process.returncode}) ---\n{output.decode(errors='replace')[-20000:]}"
        return None

    # The four documents at once: each schemathesis is a process of its own, the apps answer
    # from this one (one after the other they took ~4 minutes of CI).
    results = await asyncio.gather(*(fuzz(name, origin) for name, origin in origins.items()))
    failed = [r for r in results if r is not None]
    assert not failed, "\n".join(failed)
