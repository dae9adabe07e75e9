from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class IncidentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENT_", extra="ignore")

    service_name: str = "incident"
    provider_name: str = "VAS"  # the site's name on the status page, and how notices are signed
    # The services an incident may name (availability is per service).
    services: tuple[str, ...] = ("sms-sender", "subscription", "complaints", "incident")
    # Health signals (incident.signals): the service the sms.health checks speak for; how long a
    # fault must be healthy before its incident is resolved; how often that is looked at; how old a
    # report may be and still be acted on.
    signal_service: str = "sms-sender"
    signal_hold_down_s: float = Field(default=300.0, ge=0)
    signal_tick_interval_s: float = Field(default=5.0, gt=0)
    signal_max_report_age_s: float = Field(default=120.0, gt=0)
    # Availability (incident.availability): how much a partial outage counts, and whether
    # maintenance announced on time is left out of the period.
    availability_partial_weight: float = Field(default=0.3, ge=0, le=1)
    availability_exclude_on_time_maintenance: bool = True
    # The availability promised (the status page draws a day below it as breached).
    availability_target: float = Field(default=0.996, gt=0, le=1)

    # -- maintenance windows (incident.maintenance) --
    # Users are told this long before a maintenance starts (less only for an emergency, with its
    # reason), and reminded this long before it starts; the regulator is told of maintenance
    # longer than the threshold, the lead before it starts.
    maintenance_notice_hours: float = Field(default=72.0, ge=0)
    maintenance_reminder_hours: float = Field(default=24.0, gt=0)
    maintenance_regulator_threshold_hours: float = Field(default=24.0, gt=0)
    maintenance_regulator_lead_hours: float = Field(default=72.0, ge=0)
    maintenance_tick_interval_s: float = Field(default=5.0, gt=0)  # reminders, starts and ends
    # -- records (incident.records) --
    # Incidents, timelines, maintenance windows and their notices are kept for good by default;
    # with a retention period (at least 183 days: the 6-month promise), a daily run deletes what
    # ended before it and no legal hold keeps.
    records_retention_days: int | None = Field(default=None, ge=183)
    records_retention_interval_s: float = Field(default=86_400.0, gt=0)

    # -- regulator reports (incident.regulator_reports) --
    # How often warnings and overdue alerts are looked for (and the gauge refreshed); a message
    # counts as delayed in a report's impact figures when accept -> submit took longer than this.
    regulator_tick_interval_s: float = Field(default=5.0, gt=0)
    regulator_delay_threshold_s: float = Field(default=4.0, gt=0)

    # -- service quality (incident.quality) --
    # A message is on time when accept -> submit_sm_resp is below the target; the promise is met
    # when this share of messages is. The delay target is applied when a message is counted.
    quality_delay_target_s: float = Field(default=4.0, gt=0)
    quality_delay_objective: float = Field(default=0.99, gt=0, le=1)
    quality_capacity_per_second: float = Field(default=500.0, gt=0)  # both ways
    quality_busy_hour_per_second: float = Field(default=400.0, gt=0)
    quality_mttr_hours: float = Field(default=2.0, gt=0)
    quality_registration_success: float = Field(default=0.999, gt=0, le=1)
    quality_unsubscribe_p99_s: float = Field(default=60.0, gt=0)  # TD -> cancellation effective
    quality_satisfied_share: float = Field(default=0.9, gt=0, le=1)  # replies scoring 4-5 (gap 5)
    # The per-minute delay rows (a day's hourly figures; ~1.7 KB a row and partner, so ~700 MiB a
    # month at 10 partners) are deleted after this; the day rows the reports read stay. None: kept.
    quality_minute_retention_days: int | None = Field(default=93, ge=2)
    # The rows per user action (orders, unsubscription requests, cancellations and what followed
    # them, suspension notices; numbers only as keyed hashes) are deleted after this. A report of
    # a period that starts before it says those figures are no longer kept in full, rather than
    # counting what is left. At least 190 days: the SERVQUAL trend reads 6 months. None: kept.
    quality_user_rows_retention_days: int | None = Field(default=400, ge=190)
    quality_retention_interval_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _signal_service_known(self) -> Self:
        if self.signal_service not in self.services:
            raise ValueError(f"signal_service {self.signal_service!r} is not in services {self.services}")
        return self
