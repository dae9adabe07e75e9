"""Kafka consumer of maintenance: the subscription service's count of each notice it sent
(`maintenance.notices_sent` on subscription.events), kept with the notice for the reports."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from incident.maintenance.service import MaintenanceService
from vas_common.db import DATABASE_UNAVAILABLE
from vas_common.events.subscription import MaintenanceNoticesSent
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_common.kafka import PoisonList, Subscription, decode_batch

# Nearly all of subscription.events is something else (a charge per delivered message): skipped
# before decoding. Events are compact JSON (encode_event), so a count always carries this text.
_COUNT_TYPE = b'"type":"maintenance.notices_sent"'


def subscriptions(maintenance: MaintenanceService) -> Sequence[Subscription]:
    async def on_subscription_events(records: list[ConsumerRecord[bytes, bytes]]) -> PoisonList:
        """A partition's batch; a count whose handling fails on its own goes to the dead-letter
        topic, the database being away fails the batch (retried; counting is idempotent)."""
        decoded, poison = decode_batch([r for r in records if _COUNT_TYPE in (r.value or b"")])
        for event, record in decoded:
            if not isinstance(event, MaintenanceNoticesSent):
                continue
            count = event.payload
            try:
                await maintenance.count_notices(count.window_id, count.notice, count.subscribers_notified)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                poison.append((record, exc))
        return poison

    return (
        Subscription(
            "incident.maintenance-notice-counts", (SUBSCRIPTION_EVENTS,), batch_handler=on_subscription_events
        ),
    )
