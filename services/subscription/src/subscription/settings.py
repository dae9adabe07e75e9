from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class SubscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUBSCRIPTION_", extra="ignore")

    service_name: str = "subscription"
