"""/healthz, /readyz and /metrics of the common service frame, with the database and broker
really stopped and started again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from vas_common.app import Runtime, ServiceSpec, create_service_app
from vas_common.settings import ServiceSettings
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.pytest_plugin import eventually, serve, service_settings_kwargs


async def test_readyz_reports_the_missing_dependency_and_recovers(
    own_postgres: EmbeddedPostgres, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    (tmp_path / "migrations").mkdir()
    settings = ServiceSettings(
        service_name="probe",
        readiness_timeout_s=1.0,
        **service_settings_kwargs(own_postgres.dsn(), own_broker.bootstrap),
    )
    app = create_service_app(
        settings, ServiceSpec(title="probe", version="0", migrations_dir=tmp_path / "migrations")
    )
    async with serve(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}

        own_postgres.stop("fast")
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        body = down.json()
        assert body["code"] == "not_ready"
        assert body["checks"]["database"].startswith("unavailable")
        assert body["checks"]["broker"] == "ok"
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

        own_postgres.start()
        await eventually(lambda: _status_is(client, 200), timeout_s=30)

        own_broker.stop()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["broker"].startswith("unavailable")
        assert down.json()["checks"]["database"] == "ok"

        own_broker.start()  # same port
        await eventually(lambda: _status_is(client, 200), timeout_s=30)

        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert 'http_requests_total{method="GET",route="/readyz",status="503"}' in metrics.text


async def _status_is(client: object, status: int) -> bool:
    response = await client.get("/readyz")  # type: ignore[attr-defined]
    return bool(response.status_code == status)


async def test_readyz_reports_warnings_without_failing(database: str, kafka: Any, tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    settings = ServiceSettings(service_name="probe", **service_settings_kwargs(database, kafka.bootstrap))

    async def fine() -> str | None:
        return None

    async def assuming() -> str | None:
        return "no data for 2027: an assumption is used"

    async def broken() -> str | None:
        raise RuntimeError("cannot tell")

    async def wire(_app: FastAPI, runtime: Runtime) -> None:
        runtime.readiness_warnings.update(fine=fine, assuming=assuming, broken=broken)

    app = create_service_app(
        settings,
        ServiceSpec(title="probe", version="0", migrations_dir=tmp_path / "migrations", on_startup=wire),
    )
    async with serve(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "broker": "ok"},
            "warnings": {
                "assuming": "no data for 2027: an assumption is used",
                "broken": "could not be checked: RuntimeError: cannot tell",
            },
        }
