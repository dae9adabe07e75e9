from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class IncidentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENT_", extra="ignore")

    service_name: str = "incident"
    # -- maintenance windows (incident.maintenance) --
    # Users are told this long before a maintenance starts (less only for an emergency, with its
    # reason), and reminded this long before it starts; the regulator is told of maintenance
    # longer than the threshold, the lead before it starts.
    maintenance_notice_hours: float = Field(default=72.0, ge=0)
    maintenance_reminder_hours: float = Field(default=24.0, gt=0)
    maintenance_regulator_threshold_hours: float = Field(default=24.0, gt=0)
    maintenance_regulator_lead_hours: float = Field(default=72.0, ge=0)
    maintenance_tick_interval_s: float = Field(default=5.0, gt=0)  # reminders, starts and ends
