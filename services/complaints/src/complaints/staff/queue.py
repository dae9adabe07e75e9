"""The console's queue: the open complaints in the order of `ComplaintService.queue`, each with
its clocks computed now (one read of the histories and policies for the whole page), so that a
row's colour is the clocks' state as of this moment, not as last stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from complaints.calendar.service import CalendarService
from complaints.complaint.domain import Complaint
from complaints.complaint.repository import ComplaintRepository
from complaints.complaint.service import ComplaintService
from complaints.sla.domain import Clock, compute_clocks
from complaints.sla.repository import SlaRepository
from complaints.staff.domain import SlaLight, next_clock, sla_light


@dataclass(frozen=True)
class QueueRow:
    complaint: Complaint
    light: SlaLight
    clock: Clock | None  # the running clock due first


async def console_queue(
    pool: asyncpg.Pool,
    complaints: ComplaintService,
    calendar: CalendarService,
    now: datetime,
    limit: int = 200,
) -> list[QueueRow]:
    entries = await complaints.queue(limit)
    ids = [complaint.id for complaint, _due in entries]
    async with pool.acquire() as conn:
        histories = await ComplaintRepository().histories(conn, ids)
        policies = await SlaRepository().live_policies(conn)
    working_time = await calendar.calendar()
    rows = []
    for complaint, _due in entries:
        history = [event.history() for event in histories.get(complaint.id, [])]
        clocks = compute_clocks(complaint.subject(), policies, history, working_time)
        rows.append(QueueRow(complaint, sla_light(clocks, now), next_clock(clocks)))
    return rows
