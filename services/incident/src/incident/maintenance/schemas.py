"""HTTP shapes of maintenance windows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from incident.maintenance.domain import Notice, NoticeKind, Window, WindowStatus
from incident.maintenance.service import WindowDetail
from incident.regulator_tasks.schemas import RegulatorTaskOut
from vas_common.types import Instant, MultiLineText, SingleLineText

# A product code as the subscription catalogue writes it (the SMS keyword, upper case).
ProductCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,20}$")]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
Reason = Annotated[SingleLineText, Field(min_length=1, max_length=500)]


class _Times(BaseModel):
    starts_at: Instant
    ends_at: Instant = Field(description="The expected end")
    emergency: bool = Field(
        default=False,
        description="Less notice than the notice period (72 h): allowed only with `emergency_reason`, "
        "which is recorded and reported",
    )
    emergency_reason: Reason | None = None


class WindowIn(_Times):
    product_codes: list[ProductCode] = Field(
        default_factory=list, max_length=100, description="Affected products (codes of the catalogue)"
    )
    services: list[ServiceName] = Field(default_factory=list, max_length=20, description="Affected services")
    text_zh: MultiLineText = Field(
        min_length=1, max_length=300, description="What users are told the maintenance does, in Chinese"
    )

    @model_validator(mode="after")
    def _affects_something(self) -> WindowIn:
        if not self.product_codes and not self.services:
            raise ValueError("name the affected products or services")
        if not self.text_zh.strip():
            raise ValueError("text_zh must not be blank")
        return self

    def codes(self) -> tuple[str, ...]:
        return tuple(c.upper() for c in self.product_codes)


class RescheduleIn(_Times):
    pass


class CancellationIn(BaseModel):
    reason: Reason


class NoticeOut(BaseModel):
    notice: int
    kind: NoticeKind
    starts_at: datetime
    ends_at: datetime
    emergency: bool
    reason: str | None
    actor: str
    published_at: datetime
    subscribers_notified: int | None = Field(
        description="Told by the subscription service; null until it answers"
    )

    @classmethod
    def of(cls, n: Notice) -> NoticeOut:
        return cls(
            notice=n.notice,
            kind=n.kind,
            starts_at=n.starts_at,
            ends_at=n.ends_at,
            emergency=n.emergency,
            reason=n.reason,
            actor=n.actor,
            published_at=n.published_at,
            subscribers_notified=n.subscribers_notified,
        )


class WindowOut(BaseModel):
    id: UUID
    status: WindowStatus
    product_codes: list[str]
    services: list[str]
    starts_at: datetime
    ends_at: datetime
    text_zh: str
    emergency: bool
    emergency_reason: str | None
    notice: int = Field(description="The number of the latest notice to users")
    remind_at: datetime | None = Field(description="When users are reminded; null when no reminder is due")
    created_at: datetime
    created_by: str
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None

    @classmethod
    def of(cls, w: Window) -> WindowOut:
        return cls(
            id=w.id,
            status=w.status,
            product_codes=list(w.product_codes),
            services=list(w.services),
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            text_zh=w.text_zh,
            emergency=w.emergency,
            emergency_reason=w.emergency_reason,
            notice=w.notice,
            remind_at=w.remind_at,
            created_at=w.created_at,
            created_by=w.created_by,
            started_at=w.started_at,
            completed_at=w.completed_at,
            cancelled_at=w.cancelled_at,
            cancel_reason=w.cancel_reason,
        )


class WindowDetailOut(WindowOut):
    notices: list[NoticeOut]
    regulator_task: RegulatorTaskOut | None

    @classmethod
    def of_detail(cls, d: WindowDetail, now: datetime) -> WindowDetailOut:
        return cls(
            **WindowOut.of(d.window).model_dump(),
            notices=[NoticeOut.of(n) for n in d.notices],
            regulator_task=RegulatorTaskOut.of(d.regulator_task, now) if d.regulator_task else None,
        )


class JobResult(BaseModel):
    job: str
    affected: int
