"""Publishes sms.status from the status_events rows themselves.

A status change is one row, written in the transaction that changed the status; the relay
publishes rows once their transaction has ended, in (xid, id) order, and moves its cursor
(status_relay) in the transaction that holds its lock, after the broker acknowledged them.
Every xid below the snapshot's xmin belongs to a transaction that has ended, and a later one
gets a larger xid, so nothing committed behind the cursor is ever skipped. Two events of one
message come from transactions one after the other (the second reads what the first wrote),
so they are published in that order.

Before, each status change also wrote an outbox row, which the outbox relay read, published
and deleted. At 1,500 messages a second (two status changes each), publishing without those
rows took the machine from 92 % to 85 % busy (PostgreSQL 47 → 43 % of a core).

A transaction left open holds back the events of every later one until it ends.
"""

from __future__ import annotations

import asyncpg

from sms_sender.repository.statuses import STATUS_EVENTS_CHANNEL, StatusRepository
from vas_common.events.topics import SMS_STATUS
from vas_common.kafka import EventPublisher
from vas_common.outbox import NotifiedRelay
from vas_common.telemetry import carrier_to_kafka_headers

_BATCH = 1000
# While busy, a round every 50 ms: rows may wait for other transactions to end, and one round
# per NOTIFY published a few dozen rows a transaction.
_SETTLE_S = 0.05


class StatusRelay(NotifiedRelay):
    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: EventPublisher,
        poll_interval_s: float = 0.5,
        statuses: StatusRepository | None = None,
    ) -> None:
        super().__init__(
            pool,
            channel=STATUS_EVENTS_CHANNEL,
            name="status-relay",
            batch=_BATCH,
            poll_interval_s=poll_interval_s,
            settle_s=_SETTLE_S,
        )
        self._publisher = publisher
        self._statuses = statuses or StatusRepository()

    async def relay_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await self._statuses.status_events_to_publish(conn, _BATCH)
            if not rows:
                return 0
            await self._publisher.publish_many(
                [
                    (
                        SMS_STATUS.name,
                        str(r.message_id).encode(),
                        r.event,
                        carrier_to_kafka_headers(r.trace),
                    )
                    for r in rows
                ]
            )
            last = rows[-1]
            await self._statuses.advance_status_relay(conn, last.xid, last.id)
        return len(rows)
