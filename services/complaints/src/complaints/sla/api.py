"""SLA endpoints: policies as data (any staff member reads them, a supervisor changes them), and
the jobs the scheduler runs by itself (operator token: machines)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from complaints.deps import Sla
from complaints.sla.schemas import JobResult, PolicyIn, PolicyOut
from complaints.sla.service import (
    NewPolicy,
    PolicyExists,
    PolicyInvalid,
    PolicyLooserThanStandard,
    PolicyNotFound,
)
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.msisdn import normalized_msisdn
from vas_common.staff import Role, require_role

router = audience_router(Audience.STAFF, prefix="/v1/sla", tags=["SLA policies (supervisor)"])
Supervisor = require_role(Role.SUPERVISOR)
jobs_router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])


@router.get("/policies", response_model=list[PolicyOut])
async def policies(sla: Sla) -> list[PolicyOut]:
    return [PolicyOut.of(p) for p in await sla.policies()]


@router.post(
    "/policies",
    status_code=201,
    dependencies=[Supervisor],
    response_model=PolicyOut,
    responses=documented(PolicyLooserThanStandard, PolicyExists, PolicyInvalid),
)
async def add_policy(body: PolicyIn, sla: Sla) -> PolicyOut:
    """A new policy row; the complaints it matches are recomputed."""
    target = (
        timedelta(days=body.target_days) if body.target_days else timedelta(minutes=body.target_minutes or 0)
    )
    policy = await sla.add_policy(
        NewPolicy(
            clock=body.clock,
            target=target,
            basis=body.basis,
            channel=body.channel,
            category=body.category,
            partner_id=body.partner_id,
            msisdn=normalized_msisdn(body.msisdn) if body.msisdn else None,
            pausable=body.pausable,
            warn_at=tuple(body.warn_at),
            note=body.note or "",
        )
    )
    await sla.recompute_open()
    return PolicyOut.of(policy)


@router.delete(
    "/policies/{policy_id}", status_code=204, dependencies=[Supervisor], responses=documented(PolicyNotFound)
)
async def retire_policy(policy_id: UUID, sla: Sla) -> None:
    await sla.retire_policy(policy_id)
    await sla.recompute_open()


@jobs_router.post("/sla-tick", response_model=JobResult)
async def sla_tick(sla: Sla) -> JobResult:
    """Raise the warnings and breaches that have fallen due (runs every few seconds by itself)."""
    return JobResult(job="sla-tick", affected=await sla.tick())


@jobs_router.post("/recompute-clocks", response_model=JobResult)
async def recompute(sla: Sla) -> JobResult:
    """Every open complaint's clocks again (done by itself after a calendar or policy change)."""
    return JobResult(job="recompute-clocks", affected=await sla.recompute_open())
