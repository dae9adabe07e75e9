"""Raw records (原始数据): a user's list on request, holds, and retention — records, charges
and ended subscriptions are kept `retention_months` Asia/Shanghai months, a held user's for as
long as any hold remains (holds are per number and holder: legal holds placed here, dispute holds
of complaints from complaint.events); the ids of handled MO for as long as an MO could come again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from subscription import domain
from subscription.repository.records import OrderRecord, RecordRepository
from subscription.repository.retention import Hold, HoldRepository, RetentionRepository
from subscription.repository.subscriptions import SubscriptionRepository
from subscription.service.messaging import Messaging
from vas_common.clock import Clock
from vas_common.errors import NotFound, ValidationFailed
from vas_common.events.complaints import HoldChange
from vas_common.events.subscription import LEGAL_HOLDER, LegalHold, LegalHoldChanged

logger = logging.getLogger(__name__)

# An MO comes again only until its offset is committed (seconds), never after the broker has
# dropped it (Kafka keeps a topic 7 days by default): the ids that say it was handled stay as long.
PROCESSED_MO_KEPT = timedelta(days=7)
_MO_ID_BATCH = 10_000


class LegalHoldNotFound(NotFound):
    code = "legal_hold_not_found"
    title = "The user is not under this legal hold"


class InvalidRange(ValidationFailed):
    code = "invalid_range"
    title = "'from' must be before 'to'"


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime  # what is older than this is gone, unless held
    partitions_created: list[str]
    partitions_dropped: list[str]
    records_deleted: int
    charges_deleted: int
    subscriptions_deleted: int
    processed_mo_deleted: int
    refund_requests_deleted: int


class RecordsService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        retention_months: int,
        records: RecordRepository | None = None,
        holds: HoldRepository | None = None,
        retention: RetentionRepository | None = None,
        messaging: Messaging | None = None,
        subscriptions: SubscriptionRepository | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._months = retention_months
        self._records = records or RecordRepository()
        self._holds = holds or HoldRepository()
        self._retention = retention or RetentionRepository()
        self._messaging = messaging or Messaging()
        self._subs = subscriptions or SubscriptionRepository()

    async def of_user(self, msisdn: str, since: datetime | None, until: datetime | None) -> list[OrderRecord]:
        if since is not None and until is not None and since >= until:
            raise InvalidRange(f"from {since.isoformat()} is not before to {until.isoformat()}")
        async with self._pool.acquire() as conn:
            return await self._records.of_user(conn, msisdn, since, until)

    # -- holds -------------------------------------------------------------------------------

    async def place_hold(self, msisdn: str, reason: str, holder: str = LEGAL_HOLDER) -> Hold:
        """A legal hold (`legal` or `legal:<name>`), announced to the sms-sender, which keeps the
        user's messages as long."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            hold = await self._holds.place(conn, msisdn, holder, reason, now)
            await self._messaging.publish(
                conn,
                LegalHoldChanged(
                    payload=LegalHold(msisdn=msisdn, held=True, reason=reason, occurred_at=now, holder=holder)
                ),
            )
        return hold

    async def release_hold(self, msisdn: str, holder: str = LEGAL_HOLDER) -> None:
        """Release one legal holder; the user's records stay while another holder remains."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            if not await self._holds.release(conn, msisdn, holder):
                raise LegalHoldNotFound(f"{msisdn} is not held by {holder}", extra={"holder": holder})
            await self._messaging.publish(
                conn,
                LegalHoldChanged(
                    payload=LegalHold(msisdn=msisdn, held=False, occurred_at=now, holder=holder)
                ),
            )

    async def holds(self) -> list[Hold]:
        """Every legal hold (dispute holds are the complaints service's)."""
        async with self._pool.acquire() as conn:
            return await self._holds.with_prefix(conn, LEGAL_HOLDER)

    async def holds_of(self, msisdn: str) -> list[Hold]:
        """Everyone holding the user's records: legal holds and complaints."""
        async with self._pool.acquire() as conn:
            return await self._holds.of_user(conn, msisdn)

    async def apply_dispute_hold(self, change: HoldChange, held: bool) -> None:
        """A complaint placed or released its dispute hold (complaint.events). Idempotent: the
        event says what the holder now does, so applying it again changes nothing, and releasing
        a hold never placed is a no-op; a holder's events come in order (keyed by the number).
        The sms-sender reads the same events: nothing is announced from here."""
        async with self._pool.acquire() as conn:
            if held:
                reason = change.reason or change.holder
                await self._holds.place(conn, change.msisdn, change.holder, reason, change.occurred_at)
            else:
                await self._holds.release(conn, change.msisdn, change.holder)

    # -- retention -------------------------------------------------------------------------

    async def ensure_partitions(self) -> list[str]:
        async with self._pool.acquire() as conn:
            return await self._retention.ensure_partitions(conn, self._clock.now())

    async def apply_retention(self) -> RetentionResult:
        """Partitions ahead, then what is older than the horizon goes: a monthly partition wholly
        older is dropped when it holds no held user's record, and the rows left older than the
        horizon (kept partitions, the DEFAULT partition, charges) are deleted but the held users'.
        Safe to run from several replicas at once."""
        now = self._clock.now()
        cutoff = domain.retention_cutoff(now, self._months)
        dropped: list[str] = []
        async with self._pool.acquire() as conn:
            created = await self._retention.ensure_partitions(conn, now)
            for partition in await self._retention.partitions_before(conn, cutoff):
                # One short transaction per drop: a drop locks order_records, which every use case writes.
                async with conn.transaction():
                    await self._retention.lock_holds(conn)
                    if await self._retention.partition_holds_held_records(conn, partition):
                        continue
                    await self._retention.drop_partition(conn, partition)
                dropped.append(partition)
            async with conn.transaction():
                await self._retention.lock_holds(conn)
                records = await self._retention.delete_records(conn, cutoff)
                charges = await self._retention.delete_charges(conn, cutoff)
                # After the charges: a subscription goes once nothing charged to it is kept.
                subscriptions = await self._retention.delete_ended_subscriptions(conn, cutoff)
                refund_requests = await self._retention.delete_refund_requests(conn, cutoff)
            mo_ids = await self._subs.forget_processed_mo(conn, now - PROCESSED_MO_KEPT, _MO_ID_BATCH)
        result = RetentionResult(
            cutoff, created, dropped, records, charges, subscriptions, mo_ids, refund_requests
        )
        logger.info(
            "retention: records before %s removed; partitions dropped %s, records deleted %d, charges deleted %d,"
            " ended subscriptions deleted %d, MO ids forgotten %d, refund requests deleted %d",
            cutoff.isoformat(),
            dropped or "none",
            records,
            charges,
            subscriptions,
            mo_ids,
            refund_requests,
        )
        return result
