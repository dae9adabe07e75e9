"""Operator endpoints that run a periodic job now (the service also runs them on a timer)."""

from __future__ import annotations

from subscription.api.deps import Products, Subscriptions
from subscription.schemas import JobResult
from vas_common.access import Audience, audience_router

router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])


@router.post("/expire-pending", response_model=JobResult)
async def expire_pending(subs: Subscriptions) -> JobResult:
    """Orders without a Y within 24 h end as expired."""
    return JobResult(job="expire-pending", affected=await subs.expire_pending())


@router.post("/scheduled-changes", response_model=JobResult)
async def scheduled_changes(products: Products) -> JobResult:
    """Discontinuations and suspensions whose date has come are carried out."""
    return JobResult(job="scheduled-changes", affected=await products.apply_due_changes())
