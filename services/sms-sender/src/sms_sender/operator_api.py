"""Operator endpoints of the sms-sender (operator token): run a periodic job now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel

from sms_sender.service.retention import Retention
from vas_common.access import Audience, audience_router


async def retention_job(request: Request) -> Retention:
    job = request.app.state.retention
    assert isinstance(job, Retention)
    return job


router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])


class RetentionOut(BaseModel):
    job: str
    affected: int
    cutoff: datetime
    partitions_dropped: list[str]
    rows_deleted: dict[str, int]


@router.post("/retention", response_model=RetentionOut)
async def retention(job: Annotated[Retention, Depends(retention_job)]) -> RetentionOut:
    """Messages, segments and status events older than the retention horizon are removed, except
    those of users under a legal hold, and Idempotency-Keys past their 24 hours. Also runs daily
    in every sms-sender process."""
    result = await job.run()
    return RetentionOut(
        job="retention",
        affected=sum(result.rows_deleted.values()),
        cutoff=result.cutoff,
        partitions_dropped=result.partitions_dropped,
        rows_deleted=result.rows_deleted,
    )
