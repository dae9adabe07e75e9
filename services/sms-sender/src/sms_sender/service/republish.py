"""Republishing: a message accepted (stored, 202) whose submit record never reached a dispatcher
(the broker lost its data, a topic was made again) would stay `accepted` for good. A periodic
sweep writes the submit record of each message still waiting after `after` to the outbox again,
exactly as the accept did; dispatch sends a message once however many records ask for it, so a
message merely waiting in a long backlog costs a skipped record, not a second SMS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from sms_sender import domain
from sms_sender.repository.republish import RepublishRepository
from vas_common.clock import Clock
from vas_common.outbox import OutboxRepository

logger = logging.getLogger(__name__)

# A message republished again and again (a dispatcher lane down for hours) waits twice as long
# each time, up to 2^6 × `after`: the sweep never floods a backlog that is merely slow.
MAX_DOUBLINGS = 6


class RepublishMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.republished = Counter(
            "sms_republished_total",
            "Submit records written again for messages still accepted but not submitted",
            registry=registry,
        )
        self.oldest_age = Gauge(
            "sms_accepted_oldest_age_seconds",
            "Age of the oldest message accepted but not submitted yet (0: none), as of the last sweep",
            registry=registry,
        )


@dataclass(frozen=True)
class RepublishResult:
    republished: int
    oldest_age_s: float


class Republisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        after_s: float,
        batch: int,
        metrics: RepublishMetrics | None = None,
        repo: RepublishRepository | None = None,
        outbox: OutboxRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._after = timedelta(seconds=after_s)
        self._batch = batch
        self._metrics = metrics or RepublishMetrics(None)
        self._repo = repo or RepublishRepository()
        self._outbox = outbox or OutboxRepository()

    async def run(self) -> RepublishResult:
        """One sweep: at most `batch` messages claimed and their submit records enqueued, in one
        transaction (a rollback leaves them due for the next sweep); then the oldest age."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                due = await self._repo.claim_due(
                    conn, now=now, after=self._after, max_doublings=MAX_DOUBLINGS, limit=self._batch
                )
                await self._outbox.enqueue_many(
                    conn, [domain.submit_record(d.message, d.category) for d in due]
                )
            oldest = await self._repo.oldest_accepted(conn)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        self._metrics.republished.inc(len(due))
        self._metrics.oldest_age.set(age)
        if due:
            logger.warning(
                "republished the submit records of %d messages accepted but not submitted after %.0fs"
                " (oldest accepted %.0fs ago; %d republished before)",
                len(due),
                self._after.total_seconds(),
                age,
                sum(1 for d in due if d.count > 1),
            )
        return RepublishResult(republished=len(due), oldest_age_s=age)
