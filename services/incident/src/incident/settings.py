from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class IncidentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENT_", extra="ignore")

    service_name: str = "incident"
    provider_name: str = "VAS"  # the site's name on the status page, and how notices are signed
