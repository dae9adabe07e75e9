"""Service quality use cases: the roll-ups fed from the event stream and the reports built from
them (`quality`), the figures they give (`figures`), and each promise judged from its figures
(`promises`). The names callers use are re-exported here."""

from incident.quality.service.figures import (
    AvailabilityFigures,
    Consumed,
    DayFigures,
    HourFigures,
    InvalidDay,
    InvalidMonth,
    InvalidPeriod,
    QualityMetrics,
    QualityReport,
    QualityTargets,
    RecordsInFuture,
    Servqual,
    ServqualMonth,
    UnknownStore,
    Value,
)
from incident.quality.service.quality import QualityService

__all__ = [
    "AvailabilityFigures",
    "Consumed",
    "DayFigures",
    "HourFigures",
    "InvalidDay",
    "InvalidMonth",
    "InvalidPeriod",
    "QualityMetrics",
    "QualityReport",
    "QualityService",
    "QualityTargets",
    "RecordsInFuture",
    "Servqual",
    "ServqualMonth",
    "UnknownStore",
    "Value",
]
