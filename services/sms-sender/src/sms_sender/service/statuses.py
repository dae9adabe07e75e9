"""Recording what follows a segment change: the message's new status, its status history (which
the status relay publishes on sms.status) and the callbacks it calls for, in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sms_sender import domain
from sms_sender.domain import MessageKey
from sms_sender.repository.callbacks import CallbackRepository
from sms_sender.repository.statuses import StatusEventRow, StatusRepository
from vas_common.db import DbConnection
from vas_common.events import encode_event
from vas_common.events.sms_sender import MessageState, MessageStatus, MessageStatusChanged, SegmentState
from vas_common.telemetry import current_trace_carrier


class StatusRecorder:
    """Recomputes message statuses after segment changes and records what follows in the
    same transaction: the status history (which the status relay publishes on sms.status) and
    the callbacks."""

    def __init__(
        self,
        statuses: StatusRepository | None = None,
        callbacks: CallbackRepository | None = None,
    ) -> None:
        self._statuses = statuses or StatusRepository()
        self._callbacks = callbacks or CallbackRepository()

    async def refresh(
        self, conn: DbConnection, keys: Sequence[MessageKey], now: datetime
    ) -> list[MessageState]:
        if not keys:
            return []
        changed: list[MessageState] = []
        updates: list[tuple[UUID, datetime, str, str | None, datetime, str | None]] = []
        callback_targets: dict[UUID, tuple[str, bool]] = {}
        for row in await self._statuses.load_for_status(conn, keys):
            segments = row.segments
            statuses = [MessageStatus(s.status) for s in segments]
            new_status = domain.message_status(statuses, row.segments_total)
            if new_status.value == row.status:
                continue
            error = next(
                (
                    f"segment {s.seq}: " + (s.receipt_stat or f"smpp status {s.smpp_status}")
                    for s, status in zip(segments, statuses, strict=True)
                    if status is MessageStatus.FAILED
                ),
                None,
            )
            outcome = domain.message_outcome(
                new_status, [(status, s.receipt_stat) for s, status in zip(segments, statuses, strict=True)]
            )
            updates.append((row.id, row.accepted_at, new_status.value, error, now, outcome))
            changed.append(
                MessageState(
                    message_id=row.id,
                    partner_id=row.partner_id,
                    recipient=row.recipient,
                    status=new_status,
                    segments_total=row.segments_total,
                    segments=[
                        SegmentState(
                            seq=s.seq,
                            status=status,
                            smsc_message_id=s.smsc_message_id,
                            error=s.receipt_stat if status is MessageStatus.FAILED else None,
                        )
                        for s, status in zip(segments, statuses, strict=True)
                    ],
                    accepted_at=row.accepted_at,
                    submitted_at=row.submitted_at
                    or (now if new_status is not MessageStatus.FAILED else None),
                    done_at=now if new_status in (MessageStatus.DELIVERED, MessageStatus.FAILED) else None,
                    error=error,
                    product_code=row.product_code,
                    client_ref=row.client_ref,
                    outcome=outcome,
                )
            )
            if row.callback_url:
                callback_targets[row.id] = (row.callback_url, row.notify_submitted)
        if not changed:
            return []
        await self._statuses.update_statuses(conn, updates)
        events = [MessageStatusChanged(payload=state) for state in changed]
        trace = current_trace_carrier()
        await self._statuses.insert_status_events(
            conn,
            [
                StatusEventRow(
                    occurred_at=now,
                    partner_id=e.payload.partner_id,
                    message_id=e.payload.message_id,
                    status=e.payload.status.value,
                    body=e.payload.model_dump_json(),
                    event=encode_event(e),
                    trace=trace,
                )
                for e in events
            ],
        )
        callback_rows = _callback_rows(events, callback_targets)
        if callback_rows:
            await self._callbacks.enqueue(conn, callback_rows)
        return changed


def _callback_rows(
    events: list[MessageStatusChanged], targets: dict[UUID, tuple[str, bool]]
) -> list[tuple[UUID, UUID, UUID, str, dict[str, Any]]]:
    """The callbacks these status changes call for: final statuses, and `submitted` when asked."""
    rows: list[tuple[UUID, UUID, UUID, str, dict[str, Any]]] = []
    for event in events:
        state = event.payload
        target = targets.get(state.message_id)
        if target is None or state.partner_id is None:
            continue
        url, notify_submitted = target
        final = state.status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
        if final or (state.status is MessageStatus.SUBMITTED and notify_submitted):
            body = {
                "event_id": str(event.event_id),
                "occurred_at": event.occurred_at.isoformat(),
                "message": state.model_dump(mode="json"),
            }
            rows.append((event.event_id, state.partner_id, state.message_id, url, body))
    return rows
