"""Faults found by the sms-sender's health checks (sms.health), and the incident each opens:
which checks there are, what incident a failing one makes, the evidence in words, when a fault
has healed. Pure: no I/O.

One fault per (check, subject) at a time, whatever the number of dispatchers reporting it: an
SMSC whose binds are down from both dispatchers is one outage. A fault heals once every report
since `healthy_since` was healthy for the hold-down time; a failing report in between starts the
hold-down again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from incident.incidents.domain import ImpactType, Severity
from vas_common.events.sms_sender import HealthCheck, HealthCheckResult, HealthReport

SIGNAL_ACTOR = "system (sms.health)"


@dataclass(frozen=True)
class FaultKind:
    severity: Severity
    impact: ImpactType
    title: str  # zh-CN: the status page may show it; {subject} and {threshold:g} filled in


KINDS: dict[HealthCheck, FaultKind] = {
    HealthCheck.BINDS_DOWN: FaultKind(
        Severity.CRITICAL, ImpactType.FULL, "短信中心 {subject} 连接全部中断，短信无法发送"
    ),
    HealthCheck.SEND_DELAY: FaultKind(
        Severity.MAJOR, ImpactType.PARTIAL, "短信发送延迟：{subject} 的 p99 超过 {threshold:g} 秒"
    ),
    HealthCheck.DELIVERY_FAILURE: FaultKind(
        Severity.MAJOR, ImpactType.PARTIAL, "短信投递失败率偏高：{subject} 超过 {threshold:.0%}"
    ),
}


def known_check(result: HealthCheckResult) -> HealthCheck | None:
    """The check, or None for a check this version does not know (skipped)."""
    try:
        return HealthCheck(result.check)
    except ValueError:
        return None


@dataclass(frozen=True)
class Fault:
    id: UUID
    check: str
    subject: str
    incident_id: UUID
    started_at: datetime
    opened_at: datetime
    last_failing_at: datetime
    healthy_since: datetime | None
    closed_at: datetime | None
    evidence: dict[str, Any]
    reporters: tuple[str, ...] = ()


def title(check: HealthCheck, result: HealthCheckResult) -> str:
    return KINDS[check].title.format(subject=result.subject, threshold=result.threshold)


def evidence(report: HealthReport, result: HealthCheckResult) -> dict[str, Any]:
    """The failing result with who saw it and when, as stored with the fault and the timeline."""
    return {
        **result.model_dump(mode="json"),
        "instance_id": report.instance_id,
        "smsc": report.smsc,
        "observed_at": report.observed_at.isoformat(),
    }


def evidence_text(report: HealthReport, result: HealthCheckResult) -> str:
    """For staff: what the check saw, in numbers."""
    value = "n/a" if result.value is None else f"{result.value:g}"
    extra = ", ".join(f"{k} {v}" for k, v in sorted(result.detail.items()))
    return (
        f"{result.check} on {result.subject}: {value} against threshold {result.threshold:g} "
        f"(window {result.window_s:g} s, {result.samples} samples{', ' + extra if extra else ''}), "
        f"reported by {report.instance_id} at {report.observed_at.isoformat()}"
    )


def impact_times(report: HealthReport, result: HealthCheckResult, now: datetime) -> tuple[datetime, datetime]:
    """(impact started, detected): the condition's start and the report's time, as the reporter
    saw them, never after the service's own now."""
    detected = min(report.observed_at, now)
    return min(result.since or detected, detected), detected


def stale(
    observed_at: datetime, now: datetime, max_age: timedelta, last_closed_failing: datetime | None
) -> bool:
    """A report too old to act on: older than `max_age` (a consumer catching up on history), or
    failing no later than the last failing report of the key's last fault, already closed (a
    redelivery must not reopen it)."""
    if now - observed_at > max_age:
        return True
    return last_closed_failing is not None and observed_at <= last_closed_failing


def healed(fault: Fault, now: datetime, hold_down: timedelta) -> bool:
    return (
        fault.closed_at is None and fault.healthy_since is not None and now - fault.healthy_since >= hold_down
    )
