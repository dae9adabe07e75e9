"""sms-sender's queue gauges against real PostgreSQL: status events the relay has still to
publish (and how old the oldest is), callbacks pending and due."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from sms_sender.backlogs import BacklogMetrics, BacklogSampler
from sms_sender.repository.callbacks import CallbackRepository
from sms_sender.repository.statuses import StatusEventRow, StatusRepository
from vas_common.clock import ManualClock


def gauge(registry: CollectorRegistry, name: str) -> float:
    found = registry.get_sample_value(name)
    assert found is not None, name
    return found


async def test_status_relay_backlog_and_callback_queue_are_counted(pool: asyncpg.Pool) -> None:
    clock = ManualClock()
    registry = CollectorRegistry()
    sampler = BacklogSampler(pool, BacklogMetrics(registry), clock)
    await sampler.sample()
    assert gauge(registry, "sms_status_relay_pending_events") == 0
    assert gauge(registry, "sms_status_relay_lag_seconds") == 0
    assert gauge(registry, "sms_callbacks_pending") == 0

    statuses = StatusRepository()
    happened = clock.now()
    async with pool.acquire() as conn:
        await statuses.insert_status_events(
            conn,
            [StatusEventRow(happened, None, uuid.uuid4(), "submitted", "{}", b"e", {}) for _ in range(3)],
        )
        callbacks = CallbackRepository()
        partner = uuid.uuid4()
        await callbacks.set_secret(conn, partner, "whsec_" + base64.b64encode(b"k" * 32).decode())
        await callbacks.enqueue(
            conn,
            [(uuid.uuid4(), partner, uuid.uuid4(), "https://hooks.example/cb", {}) for _ in range(2)],
        )
        # One of them is scheduled for later: pending, not due.
        await conn.execute(
            "UPDATE callback_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = "
            "(SELECT min(id) FROM callback_deliveries)"
        )
        await conn.execute(
            "UPDATE callback_deliveries SET next_attempt_at = now() - interval '30 seconds' WHERE id = "
            "(SELECT max(id) FROM callback_deliveries)"
        )
    clock.advance(timedelta(seconds=7))
    await sampler.sample()
    assert gauge(registry, "sms_status_relay_pending_events") == 3
    assert 7 <= gauge(registry, "sms_status_relay_lag_seconds") < 8
    assert gauge(registry, "sms_callbacks_pending") == 2
    assert gauge(registry, "sms_callbacks_due") == 1
    assert 30 <= gauge(registry, "sms_callbacks_due_wait_seconds") < 60

    # The relay's cursor past them: nothing waits any more.
    async with pool.acquire() as conn:
        last = await conn.fetchrow("SELECT xid, id FROM status_events ORDER BY xid DESC, id DESC LIMIT 1")
        assert last is not None
        await statuses.advance_status_relay(conn, last["xid"], last["id"])
    await sampler.sample()
    assert gauge(registry, "sms_status_relay_pending_events") == 0
    assert gauge(registry, "sms_status_relay_lag_seconds") == 0
