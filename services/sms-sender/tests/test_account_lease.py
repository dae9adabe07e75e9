"""The dispatchers' leases on the SMSC account's limits, in PostgreSQL: shares as members join,
leave and die (the SMSC-facing test with three dispatchers is test_account_limits)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import pytest

from sms_sender.domain import AccountShare
from sms_sender.service.account_lease import AccountLease
from vas_devstack.pytest_plugin import eventually

HEARTBEAT_S = 0.2
TTL_S = 1.0


@dataclass
class RecordingConnector:
    limits: list[tuple[int, float]] = field(default_factory=list)

    async def set_limits(self, binds: int, tps: float) -> None:
        self.limits.append((binds, tps))


def lease(pool: asyncpg.Pool, connector: RecordingConnector) -> AccountLease:
    return AccountLease(
        pool,
        connector,
        account="vas@smsc:2775",
        account_binds=4,
        account_tps=100.0,
        heartbeat_s=HEARTBEAT_S,
        ttl_s=TTL_S,
    )


async def test_members_share_the_account_and_a_dead_ones_share_comes_back(pool: asyncpg.Pool) -> None:
    first = lease(pool, RecordingConnector())
    assert await first.beat() == AccountShare(4, 100.0)  # alone: all of it at once
    second_connector = RecordingConnector()
    second = lease(pool, second_connector)
    assert await second.beat() == AccountShare(0, 0.0)  # the first may still use everything

    async def both_settled() -> bool:
        # The first lowers its share as soon as it sees the second (to none while it is younger
        # than two heartbeats itself); the second takes its own once it is that old.
        assert (await first.beat(), await second.beat()) == (AccountShare(2, 50.0),) * 2
        return True

    await eventually(both_settled, timeout_s=5)
    assert second_connector.limits[0] == (0, 0.0)
    assert second_connector.limits[-1] == (2, 50.0)

    # The second dies (no more heartbeats): once its lease expired the first takes it all back.
    async def first_alone() -> bool:
        assert await first.beat() == AccountShare(4, 100.0)
        return True

    await eventually(first_alone, timeout_s=5)
    # A member that leaves gives its share back at once.
    third = lease(pool, RecordingConnector())
    await third.beat()
    assert await first.beat() == AccountShare(2, 50.0)
    await third.leave()
    assert await first.beat() == AccountShare(4, 100.0)


async def test_a_member_that_cannot_renew_its_lease_drops_its_binds(pool: asyncpg.Pool) -> None:
    connector = RecordingConnector()
    alone = lease(pool, connector)
    await alone.beat()
    await pool.close()  # every renewal fails from now on
    with pytest.raises(asyncpg.InterfaceError):
        await alone.beat()
    assert alone.share == AccountShare(4, 100.0)  # not yet: its lease is good for a while
    alone._renewed_at = 0.0  # as if the last renewal were long ago
    with pytest.raises(asyncpg.InterfaceError):
        await alone.beat()
    assert connector.limits[-1] == (0, 0.0)
