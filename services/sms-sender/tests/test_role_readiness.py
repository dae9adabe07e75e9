"""Readiness per role, as the two Kubernetes Deployments use it (deploy/k8s/base/sms-sender.yaml):
the API's /readyz is its database and broker only, so an SMSC outage never takes the partner API
out of its Service; a dispatcher's /readyz reports the binds."""

from __future__ import annotations

import socket
from typing import Any

from sms_sender.main import create_app
from vas_devstack.pytest_plugin import serve


def _closed_port() -> int:
    """A local port nothing listens on: the SMSC is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_api_is_ready_without_an_smsc(database: str, kafka: Any, sms_settings: Any) -> None:
    settings = sms_settings(database, kafka, role="api", smsc_port=_closed_port())
    async with serve(create_app(settings)) as client:
        answer = await client.get("/readyz")
        assert answer.status_code == 200, answer.text
        assert set(answer.json()["checks"]) == {"database", "broker"}


async def test_dispatcher_reports_its_binds(database: str, kafka: Any, sms_settings: Any) -> None:
    settings = sms_settings(database, kafka, role="dispatcher", smsc_port=_closed_port())
    async with serve(create_app(settings)) as client:
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["broker"] == "ok"
        assert "no SMPP bind is up" in body["checks"]["smsc"]
