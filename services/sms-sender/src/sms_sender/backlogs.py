"""Gauges of sms-sender's own queues, sampled every `metrics_sample_interval_s`: the status
events the status relay has still to publish, and the partner callbacks waiting to be made."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from sms_sender.repository.callbacks import CallbackRepository
from sms_sender.repository.statuses import StatusRepository
from vas_common.clock import Clock

BACKLOG_CAP = 100_000  # counted no further: a count of millions would be a scan


class BacklogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.status_relay_pending = Gauge(
            "sms_status_relay_pending_events",
            "Status events written but not yet published on sms.status (counted up to 100,000)",
            registry=registry,
        )
        self.status_relay_lag = Gauge(
            "sms_status_relay_lag_seconds",
            "How long ago the oldest status event not yet published happened (0: none waits)",
            registry=registry,
        )
        self.callbacks_pending = Gauge(
            "sms_callbacks_pending",
            "Partner callbacks not yet delivered nor given up (counted up to 100,000)",
            registry=registry,
        )
        self.callbacks_due = Gauge(
            "sms_callbacks_due", "Pending callbacks whose attempt is due now", registry=registry
        )
        self.callbacks_due_wait = Gauge(
            "sms_callbacks_due_wait_seconds",
            "How long the longest-due callback has waited past its attempt time",
            registry=registry,
        )


class BacklogSampler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: BacklogMetrics,
        clock: Clock,
        statuses: StatusRepository | None = None,
        callbacks: CallbackRepository | None = None,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._clock = clock
        self._statuses = statuses or StatusRepository()
        self._callbacks = callbacks or CallbackRepository()

    async def sample(self) -> None:
        async with self._pool.acquire() as conn:
            pending, oldest = await self._statuses.relay_backlog(conn, BACKLOG_CAP)
            callbacks, due, waited_s = await self._callbacks.queue_depth(conn, BACKLOG_CAP)
        # Status events carry the service clock's time, so their age is read on it too.
        lag_s = 0.0 if oldest is None else max(0.0, (self._clock.now() - oldest).total_seconds())
        self._metrics.status_relay_pending.set(pending)
        self._metrics.status_relay_lag.set(lag_s)
        self._metrics.callbacks_pending.set(callbacks)
        self._metrics.callbacks_due.set(due)
        self._metrics.callbacks_due_wait.set(waited_s)
