"""SMSC login failures against the SMSC simulator: a login refused for its credentials backs off
for every bind of the account at once (one failed login per step, logged once at ERROR), is
counted by reason and named in /readyz; an SMSC refusing binds for a while (ESME_RBINDFAIL)
keeps the fast reconnect."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sms_sender.connectors.smpp import SmppBindConfig, SmppConnector
from sms_sender.main import create_app
from vas_devstack.pytest_plugin import eventually, serve
from vas_devstack.smsc import SmscSimulator

SMPP_LOGGER = "sms_sender.connectors.smpp"


async def _no_inbound(_batch: Any) -> None:
    return None


def _connector(
    smsc: SmscSimulator, password: str, **overrides: Any
) -> tuple[SmppConnector, CollectorRegistry]:
    config = SmppBindConfig(
        **{
            "host": "127.0.0.1",
            "port": smsc.smpp_port,
            "system_id": "vas",
            "password": password,
            "binds": 3,
            "response_timeout_s": 2.0,
            **overrides,
        }
    )
    connector = SmppConnector(config)
    registry = CollectorRegistry()
    for metric in connector.metrics():
        registry.register(metric)
    return connector, registry


def _failures(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("smpp_bind_failures_total", {"reason": reason}) or 0.0


async def test_a_wrong_password_costs_one_login_per_back_off_step(
    smsc: SmscSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: each of the binds retried the refused login like a network error, 0.1 s doubling
    to 5 s: 72 failed logins in 2 minutes, and only WARNINGs."""
    caplog.set_level(logging.INFO, logger=SMPP_LOGGER)
    connector, registry = _connector(smsc, "wrong-pass", auth_backoff_s=0.3, auth_backoff_max_s=0.6)
    await connector.start(_no_inbound)
    try:
        await eventually(lambda: smsc.counters.binds_refused >= 1)
        first = time.monotonic()
        # Steps at 0, 0.3 and 0.9 s: three binds retrying on their own made three at once.
        await eventually(lambda: smsc.counters.binds_refused >= 3, timeout_s=10)
        assert time.monotonic() - first >= 0.8

        def errors() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == SMPP_LOGGER and r.levelno == logging.ERROR]

        await eventually(lambda: len(errors()) == 3)
        assert smsc.counters.binds_refused == 3  # one login per step, not one per bind
        assert smsc.counters.binds_accepted == 0
        assert _failures(registry, "ESME_RINVPASWD") == 3
        assert "invalid password (ESME_RINVPASWD)" in errors()[0].getMessage()
        assert "wrong-pass" not in caplog.text  # the password is never logged
        assert not [r for r in caplog.records if r.name == SMPP_LOGGER and r.levelno == logging.WARNING]
        problem = connector.bind_problem()
        assert problem is not None
        assert problem.startswith("bind refused: invalid password (ESME_RINVPASWD), next try at ")
        assert connector.connected_binds() == 0

        # The operator's side is put right: the next step logs in, and then every bind.
        smsc.config.accounts["vas"] = "wrong-pass"
        await connector.wait_connected(timeout_s=10)
        assert connector.login_gate.describe() is None
        assert smsc.counters.binds_refused == 3
        assert smsc.counters.binds_accepted == 3
    finally:
        await connector.stop()


async def test_an_unknown_system_id_backs_off_too(smsc: SmscSimulator) -> None:
    connector, registry = _connector(smsc, "vas-pass", system_id="nobody", auth_backoff_s=60)
    await connector.start(_no_inbound)
    try:
        await eventually(lambda: connector.login_gate.describe() is not None)
        assert _failures(registry, "ESME_RINVSYSID") == 1
        assert "invalid system_id (ESME_RINVSYSID)" in (connector.bind_problem() or "")
        assert smsc.counters.binds_refused == 1
    finally:
        await connector.stop()


async def test_an_smsc_refusing_binds_for_a_while_is_retried_at_once(smsc: SmscSimulator) -> None:
    """ESME_RBINDFAIL is SMPP's generic "bind failed", which SMSCs answer during an outage: it is
    counted, and the binds come back within seconds of its end (no minutes of back-off)."""
    connector, registry = _connector(smsc, "vas-pass", binds=2, auth_backoff_s=300)
    await connector.start(_no_inbound)
    try:
        await connector.wait_connected(timeout_s=10)
        await smsc.refuse_binds(0.5)
        await eventually(lambda: _failures(registry, "ESME_RBINDFAIL") >= 1)
        assert connector.connected_binds() < 2
        await connector.wait_connected(timeout_s=10)
        assert connector.login_gate.describe() is None
    finally:
        await connector.stop()


async def test_readyz_and_metrics_name_a_refused_login(
    database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any
) -> None:
    settings = sms_settings(
        database,
        kafka,
        role="dispatcher",
        smsc_port=smsc.smpp_port,
        smsc_password="wrong-pass",
        smsc_auth_backoff_s=600,
    )
    async with serve(create_app(settings)) as client:

        async def refused() -> dict[str, Any]:
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            body: dict[str, Any] = answer.json()
            return body if "ESME_RINVPASWD" in body["checks"]["smsc"] else {}

        body = await eventually(refused)
        assert "bind refused: invalid password (ESME_RINVPASWD), next try at" in body["checks"]["smsc"]
        assert body["warnings"]["smsc_login"].startswith("bind refused: invalid password (ESME_RINVPASWD)")
        metrics = (await client.get("/metrics")).text
        assert 'smpp_bind_failures_total{reason="ESME_RINVPASWD"} 1.0' in metrics
        assert smsc.counters.binds_refused == 1
